"""The sweep engine: grid, guard, runner, progress, cancel, cache."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab.sweep.points as sweep_module
from dashboard.urlstate import from_query, to_query
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.core.provenance import provenance
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check
from gradlab.sweep import schema
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import cached_sweep, clear_cache, run_sweep

ROOT = Path(__file__).resolve().parents[2]
CASE_KEYS = ["m", "n", "batch", "dtype", "eps", "eps_placement", "scale", "seed", "variant"]
FAST = ("autograd", "structured")
#: Columns that differ between two runs of the same sweep: wall times and the clock.
UNSTABLE = [c for c in schema.COLUMNS if c.endswith("_seconds")] + ["timestamp"]


@pytest.fixture(autouse=True)
def _empty_cache():
    clear_cache()
    yield
    clear_cache()


def small(**changes) -> Sweep:
    base = dict(m=(2, 5), n=(3,), batch=(1, 2), dtypes=("float32", "float16"),
                eps=(0.0, 1e-5), placements=("inside", "outside"), seeds=(0, 1),
                variants=("none", "no-projection"), methods=FAST)
    return Sweep(**{**base, **changes})


# ------------------------------------------------------------------ the grid

def test_every_combination_is_one_row():
    sweep = small(scales=(1.0, 0.5))
    frame = run_sweep(sweep)
    expected = set(itertools.product(sweep.m, sweep.n, sweep.batch, sweep.dtypes, sweep.eps,
                                     sweep.placements, sweep.scales, sweep.seeds,
                                     sweep.variants))
    got = list(frame[CASE_KEYS].itertuples(index=False, name=None))
    assert len(frame) == sweep.points == len(expected) == 256
    assert set(got) == expected
    assert len(set(got)) == len(got)
    assert frame.attrs["complete"]
    assert (frame["error"] == "").all()


def test_dims_pairs_m_and_n_and_wins():
    sweep = Sweep(m=(7,), n=(9,), dims=(2, 4), dtypes=("float32",))
    assert (sweep.m, sweep.n) == ((), ())
    assert sweep.sizes() == ((2, 2), (4, 4))
    frame = run_sweep(sweep)
    assert list(zip(frame["m"], frame["n"])) == [(2, 2), (4, 4)]


def test_default_sweep_is_the_dashboards():
    sweep = Sweep.default()
    assert sweep.points == 432
    assert sweep.dims == tuple(2**k for k in range(1, 13))
    assert set(sweep.dtypes) == {"float64", "float32", "bfloat16", "float16"}
    assert sweep.eps == (0.0, 1e-6, 1e-5) and sweep.seeds == (0, 1, 2)
    sweep.check(Limits())  # within the default guard


axis = st.lists(st.integers(1, 300), min_size=1, max_size=3, unique=True).map(tuple)


@settings(max_examples=60, deadline=None)
@given(m=axis, n=axis, batch=st.lists(st.integers(1, 4), min_size=1, max_size=2,
                                      unique=True).map(tuple),
       dtypes=st.lists(st.sampled_from(["float64", "float32", "bfloat16", "float16"]),
                       min_size=1, max_size=4, unique=True).map(tuple),
       variants=st.lists(st.sampled_from(["none", "wrong-mean", "transposed"]), min_size=1,
                         max_size=3, unique=True).map(tuple),
       paired=st.booleans())
def test_size_is_known_before_running(m, n, batch, dtypes, variants, paired):
    sweep = Sweep(m=m, n=n, dims=m if paired else (), batch=batch, dtypes=dtypes,
                  variants=variants)
    cases = sweep.cases()
    assert sweep.points == len(cases) * len(variants)
    assert len(set(cases)) == len(cases)
    assert sweep.largest_bytes() == max(c.case_bytes() for c in cases)


def test_a_sweep_travels_in_a_url():
    default = Sweep.default()
    assert to_query(default, default) == {}
    sweep = Sweep(m=(2, 64), n=(3,), dtypes=("float32",), eps=(0.0, 1e-5), variants=("none",
                                                                                   "transposed"))
    assert from_query(Sweep, to_query(sweep, default), default) == (sweep, [])


def test_a_sweep_is_hashable_and_lists_become_tuples():
    a = Sweep(m=[2, 3], n=[4], eps=[0, 1e-5])
    b = Sweep(m=(2, 3), n=(4,), eps=(0.0, 1e-5))
    assert a == b and hash(a) == hash(b)
    assert isinstance(a.m, tuple) and a.eps == (0.0, 1e-5)


@pytest.mark.parametrize("changes, field", [
    (dict(m=(0,)), "m"),
    (dict(n=(2, -1)), "n"),
    (dict(dims=(2.5,)), "dims"),
    (dict(batch=(0,)), "batch"),
    (dict(dtypes=("float8",)), "dtypes"),
    (dict(dtypes=()), "dtypes"),
    (dict(eps=(-1e-5,)), "eps"),
    (dict(eps=(math.nan,)), "eps"),
    (dict(placements=("sideways",)), "placements"),
    (dict(scales=(0.0,)), "scales"),
    (dict(seeds=(-1,)), "seeds"),
    (dict(seeds=(1, 1)), "seeds"),
    (dict(variants=("bogus",)), "variants"),
    (dict(methods=("foo",)), "methods"),
    (dict(methods=()), "methods"),
    (dict(m="2"), "m"),
    (dict(eps=1e-5), "eps"),
], ids=["m-zero", "n-negative", "dims-float", "batch-zero", "dtype-unknown", "dtypes-empty",
        "eps-negative", "eps-nan", "placement-unknown", "scale-zero", "seed-negative",
        "seed-repeated", "variant-unknown", "method-unknown", "methods-empty", "m-string",
        "eps-scalar"])
def test_a_bad_sweep_names_its_field(changes, field):
    with pytest.raises(GradlabError, match=rf"^{field}\b"):
        Sweep(**changes)


# ------------------------------------------------------------------ the guard

def _spy(monkeypatch) -> list:
    """Record every call of the runner's work functions."""
    calls = []
    real_check, real_draw = sweep_module.run_check, sweep_module.draw
    monkeypatch.setattr(sweep_module, "run_check",
                        lambda *a, **k: calls.append("run_check") or real_check(*a, **k))
    monkeypatch.setattr(sweep_module, "draw",
                        lambda *a, **k: calls.append("draw") or real_draw(*a, **k))
    return calls


@pytest.mark.parametrize("sweep, limits, message", [
    (small(), Limits(max_points=100), r"128 points, over the limit of 100 points"),
    (Sweep(dims=(2, 10**6)), Limits(), r"m=1000000, n=1000000.*MiB, over the memory budget "
                                       r"of 4,096 MiB"),
    (Sweep(m=(2, 3000), n=(3000,), dtypes=("float16", "float64")),
     Limits(case_bytes=2**20), r"\(m=3000, n=3000, batch=1, float64\).*over the memory budget"),
    (Sweep(m=tuple(range(1, 2001)), n=tuple(range(1, 2001))), Limits(),
     r"4,000,000 points, over the limit of 5,000 points"),
], ids=["points", "huge-dims", "case-bytes", "huge-grid"])
def test_a_sweep_past_the_guard_is_refused_before_any_work(monkeypatch, sweep, limits, message):
    calls = _spy(monkeypatch)
    progress = []
    with pytest.raises(GradlabError, match=message):
        run_sweep(sweep, limits, progress=lambda *a: progress.append(a))
    assert calls == [] and progress == []


def test_sizes_past_the_memory_budget_name_dims_and_the_largest_that_fits():
    """Issue 20, item 2: a refused ``dims=2..10000000`` never said which field to lower,
    nor how far."""
    with pytest.raises(GradlabError) as caught:
        Sweep(dims=tuple(2**k for k in range(1, 24))).check(Limits())
    assert caught.value.parameter == "dims"
    text = str(caught.value)
    assert text.startswith("dims reach m = n = 8,388,608, too large: its largest point")
    fits = max(d for d in (2**k for k in range(1, 24))
               if Case(d, d, 1, "float64").case_bytes() <= Limits().case_bytes)
    assert text.endswith(f"the largest of its sizes that fits is m = n = {fits:,}")
    with pytest.raises(GradlabError, match="none of its sizes fits") as caught:
        Sweep(dims=(4096,)).check(Limits(case_bytes=2**20))
    assert caught.value.parameter == "dims"


def test_kron_over_its_budget_is_skipped_per_point_not_refused():
    sweep = Sweep(dims=(2, 16), dtypes=("float32",), methods=("autograd", "kron"))
    frame = run_sweep(sweep, Limits(kron_bytes=4096))  # J of m=2 fits, of m=16 does not
    assert list(frame["kron_status"]) == ["pass", "skipped"]
    assert "over the kron budget" in frame["kron_verdict"].iloc[1]
    assert math.isnan(frame["kron_err_u"].iloc[1]) and frame["kron_nonfinite"].iloc[1] == -1
    assert frame["error"].eq("").all()


def test_a_non_finite_point_is_a_row_that_says_so():
    # float16 W at scale 1e-3: a² underflows, u = 0 and the gradients are inf/NaN.
    sweep = Sweep(dims=(4,), dtypes=("float16", "float32"), scales=(1e-3,), methods=FAST)
    frame = run_sweep(sweep)
    half = frame[frame["dtype"] == "float16"].iloc[0]
    assert half["autograd_nonfinite"] > 0
    assert "non-finite" in half["notes"]
    assert frame[frame["dtype"] == "float32"]["autograd_nonfinite"].iloc[0] == 0


def test_a_point_that_raises_is_a_row_and_the_sweep_goes_on(monkeypatch):
    real = sweep_module.run_check

    def flaky(case, *args, **kwargs):
        if case.dtype == "float16":
            raise RuntimeError("out of memory (simulated)")
        return real(case, *args, **kwargs)

    monkeypatch.setattr(sweep_module, "run_check", flaky)
    frame = run_sweep(Sweep(dims=(2, 4), dtypes=("float32", "float16"), methods=FAST))
    assert len(frame) == 4
    bad = frame[frame["dtype"] == "float16"]
    assert bad["error"].str.contains("RuntimeError: out of memory").all()
    assert bad["structured_rel_err"].isna().all() and (bad["structured_nonfinite"] == -1).all()
    assert (frame[frame["dtype"] == "float32"]["error"] == "").all()
    assert (bad["torch_version"] == torch.__version__).all()


@pytest.mark.parametrize("exc", [
    AssertionError("structured ran in {'float32'}, not float16"),
    KeyError("W"),
    ValueError("shape (2, 3) against the truth's (3, 2)"),
], ids=["assertion-dtype-mismatch", "key-error", "value-error"])
def test_any_exception_of_one_point_is_its_row(monkeypatch, exc):
    real = sweep_module.run_check

    def failing(case, *args, **kwargs):
        if case.dtype == "float16" and case.m == 4:
            raise exc
        return real(case, *args, **kwargs)

    monkeypatch.setattr(sweep_module, "run_check", failing)
    frame = run_sweep(Sweep(dims=(2, 4), dtypes=("float32", "float16"), methods=FAST))
    assert len(frame) == 4 and frame.attrs["complete"]
    bad = (frame["dtype"] == "float16") & (frame["m"] == 4)
    assert list(frame.loc[bad, "error"]) == [f"{type(exc).__name__}: {exc}"]
    assert (frame.loc[~bad, "error"] == "").all()


def test_a_draw_that_fails_is_the_error_of_the_points_that_needed_it(monkeypatch):
    real = sweep_module.draw

    def draw(m, *args, **kwargs):
        if m == 4:
            raise MemoryError("cannot allocate 128 bytes (simulated)")
        return real(m, *args, **kwargs)

    monkeypatch.setattr(sweep_module, "draw", draw)
    sweep = Sweep(dims=(2, 4, 8), dtypes=("float32", "float16"), methods=FAST,
                  variants=("none", "wrong-mean"))
    frame = run_sweep(sweep)
    assert len(frame) == sweep.points
    bad = frame["m"] == 4
    assert (frame.loc[bad, "error"] == "MemoryError: cannot allocate 128 bytes "
                                       "(simulated)").all()
    assert bad.sum() == 4 and (frame.loc[~bad, "error"] == "").all()


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit], ids=["ctrl-c", "exit"])
def test_an_interrupt_still_stops_the_sweep(monkeypatch, exc):
    def interrupted(*args, **kwargs):
        raise exc()

    monkeypatch.setattr(sweep_module, "run_check", interrupted)
    with pytest.raises(exc):
        run_sweep(Sweep(dims=(2,), methods=FAST))


# ------------------------------------------------------------------ the rows

def test_the_rows_have_the_schemas_columns_in_order():
    check = run_check(Case(3, 4, dtype="bfloat16"), variant="wrong-mean")
    assert list(check.to_row()) + ["error"] + list(provenance()) == list(schema.COLUMNS)
    frame = run_sweep(Sweep(dims=(2,), methods=FAST))
    assert list(frame.columns) == list(schema.COLUMNS)
    for name, (kind, _, _) in schema.COLUMNS.items():
        assert str(frame[name].dtype) == schema.PANDAS_DTYPES[kind], name


def _check_json(case: Case, variant: str) -> dict:
    argv = [sys.executable, "-m", "gradlab", "check", "--json", "--m", str(case.m), "--n",
            str(case.n), "--batch", str(case.batch), "--dtype", case.dtype, "--eps",
            repr(case.eps), "--eps-placement", case.eps_placement, "--scale", repr(case.scale),
            "--seed", str(case.seed), "--variant", variant]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr  # 1: a verdict did not pass
    return json.loads(done.stdout)


def _same(row_value, json_value) -> bool:
    """JSON carries NaN and ±inf as strings, and None for absent numbers."""
    if isinstance(json_value, str) and json_value in ("nan", "inf", "-inf"):
        json_value = float(json_value)
    if json_value is None:
        json_value = math.nan
    if isinstance(row_value, float) and math.isnan(row_value):
        return isinstance(json_value, float) and math.isnan(json_value)
    return row_value == json_value


@pytest.mark.parametrize("case, variant", [
    (Case(5, 7, 2, "float16", 1e-5, "outside", 1.0, 3), "none"),
    (Case(6, 4, 1, "float64", 0.0, "inside", 0.5, 1), "eps-missing"),
], ids=["float16-eps-outside", "float64-variant"])
def test_a_row_agrees_with_check_json(case, variant):
    # The point sits inside a bigger sweep, so its inputs and reference are shared ones.
    sweep = Sweep(m=(case.m, 3), n=(case.n,), batch=(case.batch,),
                  dtypes=(case.dtype, "bfloat16"), eps=(case.eps, 1e-6),
                  placements=(case.eps_placement,), scales=(case.scale,), seeds=(case.seed,),
                  variants=tuple(dict.fromkeys(("none", variant))))
    frame = run_sweep(sweep)
    picked = frame[(frame["m"] == case.m) & (frame["dtype"] == case.dtype)
                   & (frame["eps"] == case.eps) & (frame["variant"] == variant)]
    assert len(picked) == 1
    row = picked.iloc[0]
    doc = _check_json(case, variant)
    metrics = doc["metrics"]
    pairs = [(row["ref_max_abs"], metrics["ref_max_abs"]), (row["kappa"], metrics["kappa"]),
             (row["bound_sqrt_n"], metrics["bound_sqrt_n"]), (row["bound_n"], metrics["bound_n"]),
             (row["bug_effect"], (metrics["bug_effect"] or {}).get("max")),
             (row["bug_effect_fro"], (metrics["bug_effect"] or {}).get("fro")),
             (row["kappa_fro"], metrics["kappa_fro"]), (row["ref_fro"], metrics["ref_fro"]),
             (row["reference_precision"], doc["reference_precision"]),
             (row["notes"], "; ".join(doc["notes"]))]
    for method in ("autograd", "structured", "kron"):
        err = metrics["errors"][method]["W"]
        pairs += [(row[f"{method}_{k}"], err[k])
                  for k in ("abs_err", "rel_err", "err_u", "fro_err", "fro_u", "nonfinite")]
        pairs += [(row[f"{method}_ran_dtype"], doc["dtypes"][method]),
                  (row[f"{method}_residual"], metrics["scale_residual"][method])]
        if method != "autograd":
            verdict = metrics["verdict"][method]
            pairs += [(row[f"{method}_max_abs_diff"], metrics["max_abs_diff"][method]),
                      (row[f"{method}_status"], verdict["status"]),
                      (row[f"{method}_threshold"], verdict["threshold"]),
                      (row[f"{method}_threshold_fro"],
                       (verdict["norms"].get("fro") or {}).get("threshold")),
                      (row[f"{method}_sensitivity"],
                       (verdict["norms"].get("fro") or {}).get("sensitivity")),
                      (row[f"{method}_verdict"], verdict["message"])]
    for row_value, json_value in pairs:
        assert _same(row_value, json_value), (row_value, json_value)


def test_the_same_sweep_gives_the_same_numbers():
    sweep = small(m=(3, 17), batch=(3,), variants=("none", "transposed"),
                  methods=("autograd", "structured", "kron"))
    first, second = run_sweep(sweep), run_sweep(sweep)
    pd.testing.assert_frame_equal(first.drop(columns=UNSTABLE), second.drop(columns=UNSTABLE))


# ------------------------------------------------------------------ progress and cancel

def test_progress_counts_every_point_up_to_the_total():
    sweep = small(batch=(1,), placements=("inside",))
    calls = []
    run_sweep(sweep, progress=lambda *a: calls.append(a))
    assert [done for done, _, _ in calls] == list(range(1, sweep.points + 1))
    assert {total for _, total, _ in calls} == {sweep.points}
    elapsed = [e for _, _, e in calls]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0


@pytest.mark.parametrize("after", [0, 1, 5], ids=["at-once", "after-1", "after-5"])
def test_cancel_stops_between_points(after):
    sweep = small()
    done = []
    frame = run_sweep(sweep, progress=lambda d, t, e: done.append(d),
                      cancel=lambda: len(done) >= after)
    assert len(frame) == after and done == list(range(1, after + 1))
    assert frame.attrs["complete"] is False
    assert list(frame.columns) == list(schema.COLUMNS)


# ------------------------------------------------------------------ devices and the cache

@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_is_refused_clearly_without_a_gpu(monkeypatch):
    calls = _spy(monkeypatch)
    with pytest.raises(GradlabError, match="no CUDA GPU"):
        run_sweep(Sweep(), device="cuda")
    assert calls == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_runs_the_methods_on_the_gpu():
    frame = run_sweep(Sweep(dims=(4, 64), dtypes=("float32", "float16"), methods=FAST),
                      device="cuda")
    assert (frame["device"] == "cuda").all() and (frame["error"] == "").all()
    assert (frame["structured_status"] == "pass").all()


def test_a_second_identical_sweep_comes_from_the_cache():
    sweep = small(batch=(1,), seeds=(0,))
    calls = []
    first = cached_sweep(sweep, Limits(), "cpu", progress=lambda *a: calls.append(a))
    assert len(calls) == sweep.points
    second = cached_sweep(Sweep(**{k: list(v) for k, v in vars(sweep).items()}), Limits(),
                          "cpu", progress=lambda *a: calls.append(a))
    assert len(calls) == sweep.points  # not run again
    pd.testing.assert_frame_equal(first, second)
    second.loc[0, "m"] = 999  # a caller's change does not reach the cache
    assert cached_sweep(sweep, Limits(), "cpu")["m"].iloc[0] == first["m"].iloc[0]
    cached_sweep(sweep, Limits(kron_bytes=2**20), "cpu", progress=lambda *a: calls.append(a))
    assert len(calls) == 2 * sweep.points  # other limits: another key


def test_a_cancelled_sweep_is_not_cached():
    sweep = Sweep(dims=(2, 4), methods=FAST)
    partial = cached_sweep(sweep, cancel=lambda: True)
    assert len(partial) == 0
    assert len(cached_sweep(sweep)) == sweep.points


def test_the_csv_doc_column_table_is_the_schema():
    """docs/csv.md's column table is schema.COLUMNS, row for row."""
    text = (ROOT / "docs" / "csv.md").read_text(encoding="utf-8")
    assert schema.markdown_table() in text
