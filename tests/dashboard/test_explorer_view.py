"""dashboard/explorer.py: the Explorer's view config, derivation and metrics table."""

from __future__ import annotations

import pytest

import dashboard.explorer as explorer_module
from dashboard.explorer import (
    EXPLORER_KRON_BYTES,
    ExplorerView,
    SharedDraws,
    all_notes,
    case_summary,
    derivation,
    explorer_limits,
    metrics_table,
    shown_method,
    skipped_text,
    styled,
    summarize,
)
from dashboard.urlstate import from_query, to_query
from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import run_check


def test_default_is_the_notebook_in_float32():
    view = ExplorerView()
    assert view.case() == Case.notebook(dtype="float32")
    assert view.variant_name is None


def test_preset_off_uses_the_widgets():
    view = ExplorerView(preset=False, m=5, n=7, batch=2, dtype="float16", eps=1e-5,
                        placement="outside", scale=1e-2, seed=3, variant="wrong-mean")
    assert view.case("float64") == Case(m=5, n=7, batch=2, dtype="float64", eps=1e-5,
                                        eps_placement="outside", scale=1e-2, seed=3)
    assert view.variant_name == "wrong-mean"


@pytest.mark.parametrize("kwargs, match", [
    ({"variant": "off-by-one"}, "variant must be one of none"),
    ({"method": "autograd"}, "method must be one of structured, kron"),
    ({"m": 0}, "m must be ≥ 1"),
    ({"dtype": "float8"}, "dtype must be one of"),
    ({"eps": -1.0}, "eps must be ≥ 0"),
    ({"placement": "middle"}, "eps_placement"),
], ids=["variant", "method", "m", "dtype", "eps", "placement"])
def test_view_validates_and_names_the_parameter(kwargs, match):
    with pytest.raises(GradlabError, match=match):
        ExplorerView(**kwargs)


def test_view_round_trips_through_the_url():
    view = ExplorerView(preset=False, m=12, eps=3e-7, variant="transposed", scale=1e-4)
    query = to_query(view, ExplorerView())
    assert query == {"preset": "0", "m": "12", "eps": "3e-07", "variant": "transposed",
                     "scale": "0.0001"}
    restored, errors = from_query(ExplorerView, query, ExplorerView())
    assert restored == view and errors == []


@pytest.mark.parametrize("placement, D", [("inside", r"D = m\,u^2"),
                                          ("outside", r"D = m\,r\,u")])
def test_derivation_follows_the_placement(placement, D):
    steps = derivation(placement)
    assert len(steps) == 5
    text = " ".join(latex for _, latex in steps)
    assert D in text and r"I_m \otimes x^\top" in text


def test_derivation_rejects_unknown_placement():
    with pytest.raises(GradlabError, match="placement"):
        derivation("middle")


def test_metrics_table_has_every_dtype_method_and_evidence():
    checks = {d: run_check(ExplorerView().case(d)) for d in DTYPE_NAMES}
    table = metrics_table({d: summarize(c) for d, c in checks.items()})
    assert len(table) == 4 * 3
    auto = table[table["method"] == "autograd"]
    assert (auto["verdict"] == "yardstick").all() and auto["max |Δ| vs autograd"].isna().all()
    analytic = table[table["method"] != "autograd"]
    assert analytic["evidence"].str.contains("would have failed here").all()
    assert (analytic["err / u"] == analytic["rel err"] / [
        checks[d].case.u for d in analytic["dtype"]]).all()


def test_skipped_kron_is_a_row_and_one_sentence_for_every_dtype():
    limits = Limits(kron_bytes=1024)
    summaries = {d: case_summary(Case(m=16, n=16, dtype=d), None, limits)
                 for d in DTYPE_NAMES}
    table = metrics_table(summaries)
    kron = table[table["method"] == "kron"]
    assert (kron["verdict"] == "skipped").all() and kron["evidence"].str.contains(
        "kron budget").all()
    assert kron["rel err"].isna().all()
    assert kron["non-finite"].isna().all(), "not 0: kron did not run"
    shown = styled(table.drop(columns=["verdict", "evidence"]))
    cells = shown.to_numpy().ravel().tolist()
    assert all(isinstance(c, str) for c in cells), "text: Streamlit shows a NaN as None"
    assert "None" not in cells and not any(c.lower() == "nan" for c in cells)
    assert cells.count("—") >= 4 * 6 + 4, "every missing number of kron's rows and autograd's Δ"
    assert shown_method(summaries["float32"], "kron") == "structured"
    text = skipped_text(summaries, limits.kron_bytes)
    assert text.count("kron did not run") == 1, "one sentence, not one per dtype"
    assert "float64 32.0 KiB, float32 16.0 KiB, bfloat16 8.0 KiB, float16 8.0 KiB" in text
    assert "over the kron budget of 1.0 KiB" in text
    assert not all_notes(summaries)
    assert skipped_text({"float32": summarize(run_check(Case(m=2, n=2)))}, 1) == ""


def test_notes_name_the_dtype():
    case = Case(m=16, n=16, dtype="float16", eps=1e-8, scale=1e-4)
    notes = all_notes({"float16": summarize(run_check(case))})
    assert any(n.startswith("float16: ε = 1e-08 rounds to 0") for n in notes), notes


def test_summary_keeps_numbers_and_small_pictures_only():
    check = run_check(Case(m=300, n=200, dtype="float64"))
    summary = summarize(check)
    assert summary.errors == {name: per["W"] for name, per in check.errors.items()}
    assert summary.verdicts == check.verdicts and summary.kappa == check.kappa
    picture = summary.pictures["structured"]
    assert picture.grad.shape == (300, 200) and picture.grad.values.shape == (30, 29)
    assert picture.entries == 300 * 200 and summary.small is None
    assert picture.delta.values.max() == check.max_abs_diff["structured"]
    import pickle
    assert len(pickle.dumps(summary)) < 64 * 1024 < len(pickle.dumps(check)) / 10


@pytest.mark.parametrize("preset", [False, True], ids=["drawn", "notebook"])
def test_the_four_dtypes_share_one_draw_and_give_the_same_summaries(monkeypatch, preset):
    """The page draws its case once for its four dtypes (SharedDraws): every summary is
    the one each dtype's own draw gives, and a new case draws again."""
    calls = []
    real = explorer_module.case_draws
    monkeypatch.setattr(explorer_module, "case_draws",
                        lambda case: calls.append(case) or real(case))
    view = ExplorerView(preset=preset, m=20, n=12, batch=2, eps=1e-3, seed=5)
    draws, limits = SharedDraws(), explorer_limits(Limits())
    for dtype in DTYPE_NAMES:
        shared = case_summary(view.case(dtype), None, limits, _draws=draws)
        own = case_summary(view.case(dtype), None, limits)
        assert shared.errors == own.errors and shared.verdicts == own.verdicts
        assert shared.max_abs_diff == own.max_abs_diff and shared.kappa == own.kappa
    assert len(calls) == 1
    case_summary(Case(m=20, n=12, seed=6), None, limits, _draws=draws)
    assert len(calls) == 2


def test_explorer_caps_the_kron_budget_only():
    base = Limits(kron_bytes=1024 * MiB, case_bytes=5 * MiB, max_points=7)
    capped = explorer_limits(base)
    assert capped.kron_bytes == EXPLORER_KRON_BYTES
    assert (capped.case_bytes, capped.max_points) == (5 * MiB, 7)
    small = Limits(kron_bytes=MiB)
    assert explorer_limits(small) == small


@pytest.mark.parametrize("dtype, batch", [("float32", 1), ("bfloat16", 1), ("float32", 3)])
def test_the_caption_gives_each_methods_floor_as_its_verdict_uses_it(dtype, batch):
    """The headline's floor can be checked against the caption (issue 20, item 3): each
    analytic method's normwise and max-norm floor, kron's with its larger κ, and
    structured's with the tokens' cancellation where there are several tokens."""
    import re

    from dashboard.explorer import floor_caption

    summary = case_summary(Case(m=24, n=24, batch=batch, dtype=dtype, eps=1e-2), None,
                           Limits())
    caption = floor_caption(summary)
    for method, verdict in summary.verdicts.items():
        floors = re.findall(r"(normwise|max-norm) [\d.e+-]+ u [≤>] [\d.e+-]+ u = 2 × autograd "
                            r"[\d.e+-]+ u \+ floor ([\d.e+-]+) u", verdict.message)
        assert {name for name, _ in floors} == {"normwise", "max-norm"}, verdict.message
        part = caption.split(f"{method}: ")[1].split(" · ")[0]
        for name, floor in floors:
            assert re.search(rf"{name} [^;]*= {re.escape(floor)} u", part), (name, floor, part)
    assert "kron's κ is the case's times" in caption
    assert ("structured's κ adds 8·(K − 1)" in caption) == (batch > 1), caption
