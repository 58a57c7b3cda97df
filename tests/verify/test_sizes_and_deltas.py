"""The Verify page's gradlab helpers: |Δ| per element on verify's own draws
(``gradient_deltas``) and a size sweep of a built-in problem (``size_sweep``)."""

from __future__ import annotations

import pytest
import torch

from gradlab.core.errors import GradlabError
from gradlab.problems.library import problem
from gradlab.problems.sizes import SWEEP_COLUMNS, check_sizes, size_sweep, sizes_frame
from gradlab.verification.run import gradient_deltas

DTYPES = ("float64", "float32", "bfloat16", "float16")


@pytest.mark.parametrize("name, candidate, size", [
    ("layernorm", "correct", 64), ("layernorm", "no-mean", 64),
    ("gelu", "single-entry", 64), ("cross-entropy", "torch", 16),
    ("seed", "transposed", 64),
], ids=lambda v: str(v))
def test_deltas_are_the_reports_errors_per_element(name, candidate, size):
    """max|Δ| / max|T| is the report's err_max, autograd's its autograd_max:
    the maps are of the very draws the verdicts judge."""
    prob = problem(name)
    cand = prob.candidate(candidate)
    report = prob.verify(candidate, size, DTYPES, seed=1)
    for dtype in DTYPES:
        deltas = gradient_deltas(cand.fn, prob.reference, prob.inputs(size, 1), dtype, seed=1)
        assert deltas.failure is None
        for row in (r for r in report.rows if r["dtype"] == dtype):
            name_ = row["input"]
            delta = deltas.candidate[name_]
            assert delta.dtype == torch.float64 and (delta >= 0).all()
            assert float(delta.max()) / deltas.peak[name_] == row["err_max"]
            if dtype == "float64":
                assert deltas.autograd == {}, "float64's truth is autograd itself"
            else:
                autograd = float(deltas.autograd[name_].max()) / deltas.peak[name_]
                assert autograd == row["autograd_max"]


def test_a_raising_candidate_gives_a_failure_not_an_exception():
    prob = problem("gelu")

    def raising(x):
        raise RuntimeError("boom")

    deltas = gradient_deltas(raising, prob.reference, prob.inputs(64), "float32")
    assert deltas.candidate == {} and "raised RuntimeError: boom" in deltas.failure
    assert set(deltas.autograd) == {"x"}, "autograd is still drawn"


def test_an_input_that_overflows_the_dtype_is_named():
    x = torch.full((4, 8), 1e6, dtype=torch.float64)
    deltas = gradient_deltas(lambda t: t * 2, lambda t: t * 2, {"x": x}, "float16")
    assert deltas.failure == "input 'x' overflows float16 when rounded"


def test_bad_arguments_are_named():
    with pytest.raises(GradlabError, match="float8"):
        gradient_deltas(torch.sin, torch.sin, {"x": (4,)}, "float8")
    with pytest.raises(GradlabError, match="seed"):
        gradient_deltas(torch.sin, torch.sin, {"x": (4,)}, "float32", seed=-1)


def test_size_sweep_is_verify_at_each_size():
    prob = problem("layernorm")
    sizes = (64, 128)
    frame = size_sweep(prob, "no-mean", sizes, ("float32", "bfloat16"), seed=2)
    assert list(frame.columns[:len(SWEEP_COLUMNS)]) == list(SWEEP_COLUMNS)
    assert len(frame) == len(sizes) * 2 * 3, "sizes × dtypes × inputs"
    assert set(frame["problem"]) == {"layernorm"} and set(frame["candidate_name"]) == {"no-mean"}
    for size in sizes:
        rows = frame[frame["size"] == size]
        report = prob.verify("no-mean", size, ("float32", "bfloat16"), seed=2)
        assert list(rows["status"]) == [r["status"] for r in report.rows]
        assert list(rows["err_max"]) == [r["err_max"] for r in report.rows]
    assert set(frame.loc[frame["input"] == "x", "status"]) == {"fail"}


def test_size_sweep_defaults_to_the_problems_sizes():
    prob = problem("gelu")
    frame = size_sweep(prob, "correct", dtypes=("float32",), seed=0)
    assert sorted(set(frame["size"])) == sorted(prob.sizes)


def test_an_empty_sweep_has_the_columns():
    frame = sizes_frame({})
    assert frame.empty and "size" in frame and "err_max" in frame


@pytest.mark.parametrize("sizes, words", [
    ((), "at least one size"), ((64, 0), "sizes must be ≥ 1"), ((64, 2.5), "integer"),
], ids=["empty", "zero", "fraction"])
def test_check_sizes_names_the_problem(sizes, words):
    with pytest.raises(GradlabError, match=words):
        check_sizes(sizes)


def test_check_sizes_keeps_order_and_drops_repeats():
    assert check_sizes((256, 64, 256)) == (256, 64)


def test_an_unknown_candidate_is_refused_before_any_run():
    with pytest.raises(GradlabError, match="candidate must be one of"):
        size_sweep(problem("gelu"), "nope", (64,))
