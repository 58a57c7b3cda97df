"""CSV export and import: round-trip bytes, and every malformed file refused clearly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.problems.seed.case import DRAWS
from gradlab.sweep import schema
from gradlab.sweep.export import CSVError, read_csv_bytes, to_csv_bytes
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import run_sweep


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    # NaN (bug_effect of variant none, a skipped kron), inf (float16 non-finite gradients),
    # commas and quotes in the verdict messages.
    sweep = Sweep(dims=(2, 16), dtypes=("float64", "float16"), eps=(0.0, 1e-5),
                  scales=(1.0, 1e-3), variants=("none", "wrong-mean"))
    return run_sweep(sweep, Limits(kron_bytes=4096))


@pytest.fixture(scope="module")
def data(frame) -> bytes:
    return to_csv_bytes(frame)


def test_csv_to_frame_to_csv_gives_identical_bytes(frame, data):
    back = read_csv_bytes(data, "sweep.csv")
    pd.testing.assert_frame_equal(back, frame)
    assert to_csv_bytes(back) == data


def test_the_fixture_exercises_nan_inf_and_quoting(frame, data):
    numbers = frame.select_dtypes("float").to_numpy()
    assert np.isnan(numbers).any() and np.isinf(numbers).any()
    assert b'"' in data and b",nan," in data


def test_floats_are_written_at_round_trip_precision():
    row = {name: schema.MISSING[kind] for name, (kind, _, _) in schema.COLUMNS.items()}
    row.update(dtype="float32", eps_placement="inside", variant="none")
    values = [0.1 + 0.2, 2.0**-1074, -0.0, math.inf, -math.inf, math.nan, 1e300, 1 / 3]
    frame = schema.to_frame([{**row, "kappa": v} for v in values])
    text = to_csv_bytes(frame).decode()
    column = list(schema.COLUMNS).index("kappa")
    written = [line.split(",")[column] for line in text.splitlines()[1:]]
    assert written == [repr(v) for v in values]
    assert written[0] == "0.30000000000000004"


finite_or_not = st.floats(allow_nan=True, allow_infinity=True)
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kappa=st.lists(finite_or_not, min_size=1, max_size=5), notes=st.data(),
       seed=st.integers(0, 2**62))
def test_any_values_round_trip(kappa, notes, seed):
    row = {name: schema.MISSING[kind] for name, (kind, _, _) in schema.COLUMNS.items()}
    row.update(dtype="bfloat16", eps_placement="outside", variant="transposed", seed=seed)
    rows = [{**row, "kappa": k, "notes": notes.draw(text)} for k in kappa]
    frame = schema.to_frame(rows)
    data = to_csv_bytes(frame)
    back = read_csv_bytes(data)
    pd.testing.assert_frame_equal(back, frame)
    assert to_csv_bytes(back) == data


def test_extra_columns_are_kept_as_text(data):
    lines = data.decode().splitlines()
    extended = [lines[0] + ",comment"] + [line + ",hello" for line in lines[1:]]
    back = read_csv_bytes(("\n".join(extended) + "\n").encode())
    assert list(back["comment"]) == ["hello"] * (len(lines) - 1)


def test_a_csv_written_before_the_tokens_condition_reads_it_as_nan(frame):
    """A file from before ``kappa_tokens`` (structured's K) reads with NaN there, at its
    schema place, and every other column as written."""
    assert frame["kappa_tokens"].notna().all() and frame["kappa_tokens_fro"].notna().all()
    old = frame.drop(columns=["kappa_tokens", "kappa_tokens_fro"])
    back = read_csv_bytes(to_csv_bytes(old), "old.csv")
    assert list(back.columns) == list(frame.columns)
    assert back["kappa_tokens"].isna().all() and back["kappa_tokens_fro"].isna().all()
    assert str(back["kappa_tokens"].dtype) == "float64"
    pd.testing.assert_frame_equal(back.drop(columns=["kappa_tokens", "kappa_tokens_fro"]), old)


def test_a_csv_written_before_the_draws_column_reads_as_torch_randn(frame, data):
    """A file from before the ``draws`` column has none: it reads with torch-randn,
    at its schema place, and every other column as written."""
    assert set(frame["draws"]) == {DRAWS}
    old = frame.drop(columns=["draws"])
    back = read_csv_bytes(to_csv_bytes(old), "old.csv")
    assert list(back.columns) == list(frame.columns)
    assert list(back["draws"]) == ["torch-randn"] * len(frame)
    pd.testing.assert_frame_equal(back.drop(columns=["draws"]), old)
    # columns in another order: draws follows the last column that precedes it in the schema
    shuffled = old[list(reversed(old.columns))]
    back = read_csv_bytes(to_csv_bytes(shuffled))
    assert list(back["draws"]) == ["torch-randn"] * len(frame)
    assert list(back.drop(columns=["draws"]).columns) == list(shuffled.columns)


def test_a_byte_order_mark_is_accepted(frame, data):
    pd.testing.assert_frame_equal(read_csv_bytes(b"\xef\xbb\xbf" + data), frame)


# ------------------------------------------------------------------ malformed files

def _lines(data: bytes) -> list[str]:
    return data.decode().splitlines()


def _join(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _drop_columns(data: bytes, *names: str) -> bytes:
    frame = read_csv_bytes(data)
    return to_csv_bytes(frame.drop(columns=list(names)))


def _set(data: bytes, column: str, line: int, value: str) -> bytes:
    lines = _lines(data)
    j = lines[0].split(",").index(column)
    cells = lines[line - 1].split(",")  # the case columns come first: no quoted commas
    cells[j] = value
    lines[line - 1] = ",".join(cells)
    return _join(lines)


MALFORMED = {
    "empty": (lambda d: b"", ["the file is empty"]),
    "blank": (lambda d: b" \n\n \r\n", ["the file is empty"]),
    "header-only": (lambda d: _join(_lines(d)[:1]), ["no data rows"]),
    "binary": (lambda d: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["NUL bytes", "binary"]),
    "not-utf8": (lambda d: "m,n\n2,é\n".encode("latin-1"), ["not UTF-8"]),
    "missing-columns": (lambda d: _drop_columns(d, "dtype", "kappa"),
                        ["2 missing columns: dtype, kappa"]),
    "not-a-sweep": (lambda d: b'{"a": 1}\n', ["missing columns: m, n, batch"]),
    "wrong-int": (lambda d: _set(d, "m", 2, "two"),
                  ["column m: expected integers, got 'two' (line 2)"]),
    "float-in-int": (lambda d: _set(d, "seed", 3, "1.5"), ["column seed: expected integers"]),
    "wrong-float": (lambda d: _set(d, "eps", 4, "1e-5x"),
                    ["column eps: expected numbers, got '1e-5x' (line 4)"]),
    "unknown-dtype": (lambda d: _set(d, "dtype", 2, "float8"),
                      ["column dtype: expected one of float64"]),
    "two-wrong-types": (lambda d: _set(_set(d, "m", 2, "x"), "scale", 3, "big"),
                        ["column m: expected integers", "column scale: expected numbers"]),
    "ragged": (lambda d: _join(_lines(d)[:2] + [_lines(d)[2] + ",extra"]),
               ["but line 3 has"]),
    "repeated-column": (lambda d: _join([_lines(d)[0] + ",m"]
                                        + [line + ",2" for line in _lines(d)[1:]]),
                        ["repeated columns: m"]),
    "bad-quoting": (lambda d: _lines(d)[0].encode() + b'\n"abc"def,1\n', ["not valid CSV"]),
    "too-many-fields": (lambda d: b",".join([b"x"] * 5000) + b"\n1\n", ["5,000 fields"]),
    "missing-and-ragged": (lambda d: b"m,n\n2,3\n4\n",
                           ["missing columns", "the header has 2 fields but line 3 has 1"]),
    "missing-and-bad-value": (lambda d: b"m,n\ntwo,2\n3,4\n",
                              ["missing columns",
                               "column m: expected integers, got 'two' (line 2)"]),
    "ragged-and-bad-value": (lambda d: _join(_lines(_set(d, "m", 3, "two"))[:3]
                                             + [_lines(d)[3] + ",extra"]),
                             ["but line 4 has", "column m: expected integers, got 'two' "
                                                "(line 3)"]),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_csv_is_refused_with_every_problem_named(data, case):
    make, phrases = MALFORMED[case]
    with pytest.raises(CSVError) as caught:
        read_csv_bytes(make(data), name="runs/other-machine.csv")
    message = str(caught.value)
    assert message.startswith("runs/other-machine.csv: ")
    for phrase in phrases:
        assert phrase in message
    assert caught.value.problems and isinstance(caught.value, GradlabError)


def test_a_file_over_the_upload_limit_is_refused_before_reading(data):
    with pytest.raises(CSVError, match=r"big\.csv: it is .* MiB, over the upload limit"):
        read_csv_bytes(data, "big.csv", Limits(upload_bytes=len(data) - 1))
    assert len(read_csv_bytes(data, "big.csv", Limits(upload_bytes=len(data)))) > 0


def test_text_instead_of_bytes_is_refused(data):
    with pytest.raises(CSVError, match="expected the file's bytes, got str"):
        read_csv_bytes(data.decode())


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(blob):
    try:
        read_csv_bytes(blob)
    except CSVError as exc:
        assert str(exc).startswith("upload.csv: ")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10**6), flips=st.lists(st.tuples(st.integers(0, 10**6),
                                                           st.integers(0, 255)), max_size=4))
def test_a_damaged_export_is_read_or_refused_never_a_crash(data, cut, flips):
    damaged = bytearray(data[: cut % (len(data) + 1)])
    for where, byte in flips:
        if damaged:
            damaged[where % len(damaged)] = byte
    try:
        frame = read_csv_bytes(bytes(damaged))
    except CSVError:
        return
    assert list(frame.columns)[: len(schema.COLUMNS)] == list(schema.COLUMNS)
