"""The Verify page's config (dashboard/verify.py) and the import switch
(gradlab.core.limits.allow_import)."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard.urlstate import from_query, to_query
from dashboard.verify import (
    MAX_SWEEP_SIZES,
    VerifyView,
    module_functions,
    not_passing,
    pick_input,
)
from gradlab.core.errors import GradlabError
from gradlab.core.limits import ALLOW_IMPORT, allow_import

DEFAULT = VerifyView()


@pytest.mark.parametrize("text, on", [(None, False), ("", False), ("0", False),
                                      (" 1 ", True), ("1", True)],
                         ids=["unset", "empty", "zero", "spaced", "one"])
def test_allow_import_reads_the_switch(text, on):
    environ = {} if text is None else {ALLOW_IMPORT: text}
    assert allow_import(environ) is on


@pytest.mark.parametrize("text", ["yes", "true", "2"])
def test_allow_import_refuses_anything_else_by_name(text):
    with pytest.raises(GradlabError, match=f"^{ALLOW_IMPORT} must be 1"):
        allow_import({ALLOW_IMPORT: text})


def test_the_default_is_a_small_quick_view():
    assert DEFAULT.problem_size == 1024
    assert DEFAULT.sweep_sizes() == (64, 256, 1024), "the problem's sizes up to size"
    assert to_query(DEFAULT, DEFAULT) == {}


@pytest.mark.parametrize("view", [
    VerifyView(problem="gelu", candidate="tanh-arg", size=64, dtypes=("float16",), seed=7),
    VerifyView(problem="attention", sweep="16..64", show_dtype="float32", show_input="q"),
    VerifyView(source="module", target="ops:product", reference="ops.py:reference",
               inputs="x=8x16, t=8:int:4", dtypes=("float64", "float32")),
], ids=["problem", "sweep", "module"])
def test_round_trip_through_the_url(view):
    assert from_query(VerifyView, to_query(view, DEFAULT), DEFAULT) == (view, [])


@pytest.mark.parametrize("params, word", [
    ({"problem": "softmax"}, "problem must be one of"),
    ({"candidate": "tanh-arg"}, "candidate must be one of"),
    ({"size": "5000"}, "size must be ≤ 4096, the largest width the layernorm problem"),
    ({"size": "0"}, "size must be an integer ≥ 1"),
    ({"sweep": "64, 100000"}, "sweep must be ≤ 4096"),
    ({"sweep": "1..1024"}, f"sweep must list at most {MAX_SWEEP_SIZES} sizes"),
    ({"dtypes": "float8"}, "float8"),
    ({"seed": "-1"}, "seed must be an integer in [0, 2³²)"),
    ({"show_dtype": "float64"}, "show_dtype must be one of the dtypes"),
    ({"source": "web"}, "source must be one of problem, module"),
    ({"target": "nocolon"}, "target must be MODULE:NAME"),
    ({"inputs": "x=8y"}, "inputs x must be sizes joined by 'x'"),
    ({"inputs": "x=8, x=4"}, "inputs names 'x' twice"),
], ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_a_bad_field_is_named_and_the_rest_kept(params, word):
    view, problems = from_query(VerifyView, {**params, "seed": params.get("seed", "5")},
                                DEFAULT)
    assert len(problems) == 1 and word in problems[0], problems
    assert problems[0].startswith(next(iter(params))), "named by its URL name"
    if "seed" not in params:
        assert view.seed == 5, "the good field is kept"


def test_a_problems_candidate_is_checked_with_the_problem():
    view, problems = from_query(VerifyView, {"problem": "gelu", "candidate": "tanh-arg"},
                                DEFAULT)
    assert (view.problem, view.candidate, problems) == ("gelu", "tanh-arg", [])


def test_an_explicit_sweep_is_sorted_and_deduplicated():
    assert VerifyView(sweep="256, 64 256").sweep_sizes() == (64, 256)
    assert VerifyView(problem="gelu", size=64).sweep_sizes() == (64,)
    assert VerifyView(problem="gelu", size=100).sweep_sizes() == (64, 100)


def test_module_functions_are_refused_without_the_switch(monkeypatch):
    monkeypatch.delenv(ALLOW_IMPORT, raising=False)
    view = VerifyView(source="module", target="os:getcwd", reference="os:getcwd",
                      inputs="x=4")
    with pytest.raises(GradlabError, match=f"source=module is off.*{ALLOW_IMPORT}=1"):
        module_functions(view)


def test_module_source_lists_its_empty_fields():
    assert VerifyView(source="module", target="a:b").missing() == ["reference", "inputs"]
    assert DEFAULT.missing() == []


def test_pick_input_prefers_the_asked_then_a_2d_gradient():
    assert pick_input(None, ["weight", "x"], "x") == "x"
    assert pick_input(None, ["weight", "x"], "nope") == "weight"


def test_rows_not_passing_are_listed_with_escaped_evidence():
    frame = pd.DataFrame({"dtype": ["float32", "float16"], "input": ["x", "w"],
                          "status": ["pass", "error"],
                          "evidence": ["rounding", "error: the candidate raised a_b *c* $x$"]})
    assert not_passing(frame) == [
        r"**float16 ∂w** — error: the candidate raised a\_b \*c\* \$x\$"]  # one "error:"


def test_a_candidate_is_listed_without_repeating_its_kind():
    """"correct", not "correct (correct)" (issue 20, item 10)."""
    from dashboard.verify import candidate_label

    assert candidate_label("correct", "correct") == "correct"
    assert candidate_label("transposed", "mistake") == "transposed (mistake)"
