"""gradlab.verify on small user functions: the statuses, the columns, the float64 row,
and bad arguments."""

from __future__ import annotations

import json
import math

import altair as alt
import pytest
import torch
import verify_functions as fn

import gradlab
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits
from gradlab.core.provenance import PROVENANCE_COLUMNS, provenance
from gradlab.verification.report import COLUMNS
from gradlab.verification.run import FLOAT64_AUTOGRAD_FACTOR, FLOAT64_PRECISION

ALL = ("float32", "bfloat16", "float16", "float64")


@pytest.fixture(scope="module")
def square_report():
    return gradlab.verify(fn.square, fn.square_reference, {"x": (8, 16)}, dtypes=ALL)


def test_a_right_backward_passes_in_every_dtype(square_report):
    assert square_report.passed
    frame = square_report.frame
    assert list(frame["dtype"]) == list(ALL)
    assert set(frame["status"]) == {"pass"}
    assert list(frame["grad_dtype"]) == list(ALL)
    assert list(frame["output_dtype"]) == list(ALL)
    assert (frame["nonfinite"] == 0).all()


def test_the_frame_has_every_column_and_provenance(square_report):
    frame = square_report.frame
    assert list(frame.columns) == list(COLUMNS)
    assert (frame["torch_version"] == torch.__version__).all()
    assert (frame["seed"] == 0).all()
    assert frame["timestamp"].str.len().gt(0).all()
    # every provenance column, declared once (core/provenance.py), worker included
    assert list(frame.columns[-len(PROVENANCE_COLUMNS):]) == list(PROVENANCE_COLUMNS)
    assert frame["worker"].str.len().gt(0).all()
    assert list(provenance()) == list(PROVENANCE_COLUMNS)
    for norm in ("max", "fro"):
        assert (frame[f"threshold_{norm}"] > 2 * frame[f"autograd_{norm}"]).all()
        assert (frame[f"sensitivity_{norm}"] >= frame[f"threshold_{norm}"]).all()
        ratio = frame[f"err_{norm}_u"] * frame["u"] / frame[f"err_{norm}"]
        assert ratio.dropna().sub(1).abs().max() < 1e-12


def test_float64_is_labelled_and_gets_the_taylor_test(square_report):
    frame = square_report.frame.set_index("dtype")
    assert frame.loc["float64", "reference_precision"] == FLOAT64_PRECISION
    assert frame.loc["float32", "reference_precision"] == "float64"
    assert frame.loc["float64", "taylor_rate"] == pytest.approx(2, abs=0.05)
    assert frame.loc["float64", "taylor_rates"].count(",") >= 3
    assert math.isnan(frame.loc["float32", "taylor_rate"])
    # float64's autograd error is 1.5 × float32's, at the same number of u
    assert frame.loc["float64", "autograd_max_u"] == pytest.approx(
        FLOAT64_AUTOGRAD_FACTOR * frame.loc["float32", "autograd_max_u"], rel=1e-12)
    assert "Taylor remainder rate" in frame.loc["float64", "evidence"]


def test_float64_estimates_its_autograd_error_from_float32_when_float32_is_not_asked():
    alone = gradlab.verify(fn.square, fn.square_reference, {"x": (8, 16)}, dtypes=("float64",))
    both = gradlab.verify(fn.square, fn.square_reference, {"x": (8, 16)},
                          dtypes=("float32", "float64"))
    assert alone.frame["autograd_fro_u"].iloc[0] == both.frame["autograd_fro_u"].iloc[1]


def test_a_wrong_factor_fails_everywhere_and_taylor_says_rate_one():
    report = gradlab.verify(fn.square_half, fn.square_reference, {"x": (8, 16)}, dtypes=ALL)
    assert not report.passed
    assert set(report.frame["status"]) == {"fail"}
    row = report.frame.set_index("dtype").loc["float64"]
    assert row["taylor_rate"] == pytest.approx(1, abs=0.1)
    assert "a wrong gradient" in row["evidence"]


def test_pytest_idiom_assert_ok():
    gradlab.verify(fn.square, fn.square_reference, {"x": (4, 5)}).assert_ok()
    with pytest.raises(AssertionError) as info:
        gradlab.verify(fn.square_half, fn.square_reference, {"x": (4, 5)}).assert_ok()
    message = str(info.value)
    assert "3 of 3 rows" in message
    for dtype in ("float32", "bfloat16", "float16"):
        assert f"  {dtype} x: fail: bug: normwise" in message


def test_integer_inputs_pass_through_and_get_no_row():
    target = torch.randint(0, 5, (8,), generator=torch.Generator().manual_seed(1))
    report = gradlab.verify(fn.torch_cross_entropy, fn.cross_entropy_reference,
                            {"logits": (8, 5), "target": target})
    assert set(report.frame["input"]) == {"logits"}
    assert report.passed, str(report)
    assert dict(report.inputs)["target"] == "int64 8"


def test_a_nan_gradient_is_never_a_pass():
    report = gradlab.verify(fn.NanSquare.apply, fn.square_reference, {"x": (3, 4)}, dtypes=ALL)
    frame = report.frame
    assert set(frame["status"]) == {"fail"}
    assert (frame["nonfinite"] == 1).all()
    assert frame["evidence"].str.contains("1 non-finite entries").all()


def test_a_raising_backward_gives_error_rows_not_an_exception():
    report = gradlab.verify(fn.Boom.apply, fn.square_reference, {"x": (3, 4)})
    assert set(report.frame["status"]) == {"error"}
    assert report.frame["evidence"].str.contains("RuntimeError: boom in backward").all()
    assert not report.passed


@pytest.mark.parametrize("candidate, words", [
    pytest.param(lambda x: (x * x, x), "returns 2 outputs, the reference 1", id="two-outputs"),
    pytest.param(lambda x: (x * x).T, "has shape 4x3, the reference's 3x4", id="transposed"),
    pytest.param(lambda x: (x * x).to(torch.float64), "came out in float64", id="upcast"),
    pytest.param(lambda x: x.detach() * x.detach(), "no output depends", id="detached"),
    pytest.param(lambda x: "x²", "returns str", id="not-a-tensor"),
])
def test_a_misbehaving_candidate_gets_error_rows(candidate, words):
    report = gradlab.verify(candidate, fn.square_reference, {"x": (3, 4)},
                            dtypes=("float32",))
    row = report.frame.iloc[0]
    assert row["status"] == "error"
    assert words in row["evidence"]


def test_an_input_without_gradient_is_an_error_row():
    report = gradlab.verify(fn.AffineNoBias.apply, fn.affine_reference,
                            {"x": (3, 4), "b": (4,)}, dtypes=("float32",))
    status = dict(zip(report.frame["input"], report.frame["status"]))
    assert status == {"x": "pass", "b": "error"}
    assert "no gradient for input 'b'" in report.frame["evidence"].iloc[1]


def test_several_outputs_each_get_an_upstream_gradient():
    report = gradlab.verify(fn.two_outputs, fn.two_outputs, {"x": (5,)}, dtypes=ALL)
    assert report.passed, str(report)


def test_an_input_that_overflows_the_dtype_is_degenerate():
    x = torch.full((4,), 1e6, dtype=torch.float64)
    report = gradlab.verify(fn.square, fn.square_reference, {"x": x},
                            dtypes=("float32", "float16"))
    status = dict(zip(report.frame["dtype"], report.frame["status"]))
    assert status == {"float32": "pass", "float16": "degenerate"}
    assert "overflows float16" in report.frame["evidence"].iloc[1]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_an_input_overflows_exactly_where_torch_rounds_its_peak_to_inf(dtype):
    """spec.overflow_threshold against torch's own rounding (float16 and bfloat16 round
    through float32: 65519.99999999999 is inf in float16, below max + ulp/2), at the
    threshold's neighbours and at random magnitudes, both signs, and inf and NaN."""
    from gradlab.verification.spec import Input, overflow_threshold

    torch_dtype = getattr(torch, dtype)
    edge = overflow_threshold(torch_dtype)
    near = [] if math.isinf(edge) else [math.nextafter(edge, 0), edge,
                                        math.nextafter(edge, math.inf)]
    gen = torch.Generator().manual_seed(3)
    spread = (10.0 ** (torch.rand(200, generator=gen, dtype=torch.float64) * 616 - 308)).tolist()
    for peak in near + spread + [torch.finfo(torch.float64).max, math.inf, math.nan]:
        for sign in (1, -1):
            values = torch.tensor([0.5, sign * peak], dtype=torch.float64)
            expected = bool(values.to(torch_dtype).isinf().any())
            assert Input("x", (2,), values, None, False).overflows(torch_dtype) == expected, peak


def test_a_zero_truth_is_degenerate():
    report = gradlab.verify(lambda x: x * 0, lambda x: x * 0, {"x": (3,)}, dtypes=("float32",))
    assert report.frame["status"].iloc[0] == "degenerate"


def test_given_tensors_are_used_as_given_and_shapes_are_seeded():
    x = torch.linspace(-1, 1, 12, dtype=torch.float32).reshape(3, 4)
    a = gradlab.verify(fn.square, fn.square_reference, {"x": x}, seed=0)
    b = gradlab.verify(fn.square, fn.square_reference, {"x": x}, seed=0)
    assert a.frame["err_fro"].tolist() == b.frame["err_fro"].tolist()
    assert dict(a.inputs)["x"] == "given 3x4"
    drawn = [gradlab.verify(fn.square, fn.square_reference, {"x": (64,)}, seed=s).frame
             for s in (0, 0, 1)]
    assert drawn[0]["autograd_fro"].tolist() == drawn[1]["autograd_fro"].tolist()
    assert drawn[0]["autograd_fro"].tolist() != drawn[2]["autograd_fro"].tolist()


def test_a_given_float64_tensor_is_left_as_it_was_by_a_candidate_that_writes_to_its_input():
    """verify keeps a given float64 tensor without a copy, and hands every function a
    rounded copy of it: a candidate that writes into its argument changes neither the
    caller's tensor nor what the reference and the next dtype see."""
    def triple_then_clear(x):
        out = 3 * x  # its backward does not need x
        with torch.no_grad():
            x.zero_()
        return out

    def triple(x):
        return 3 * x

    x = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(3, 4)
    before = x.clone()
    report = gradlab.verify(triple_then_clear, triple, {"x": x}, ("float64", "float32"),
                            seed=0)
    assert torch.equal(x, before)
    assert list(report.frame["dtype"]) == ["float64", "float32"]
    assert set(report.frame["status"]) == {"pass"}


def test_report_renders_as_text_html_json_and_chart(square_report):
    text = str(square_report)
    assert text.splitlines()[0].startswith("gradlab verify · ")
    assert all(f"{d} x: rounding:" in text for d in ALL)
    html = square_report._repr_html_()
    assert "<table" in html and "passed" in html
    doc = json.loads(json.dumps(square_report.to_json_dict(), allow_nan=False))
    assert doc["passed"] is True and len(doc["verdicts"]) == 4
    assert doc["verdicts"][0]["taylor_rate"] == "nan"
    assert doc["provenance"]["torch_version"] == torch.__version__
    chart = square_report.chart()
    assert isinstance(chart, alt.FacetChart)
    spec = chart.to_dict()
    assert spec["spec"]["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"


@pytest.mark.parametrize("kwargs, words", [
    pytest.param({"dtypes": ("float8",)}, "dtype must be one of", id="dtype"),
    pytest.param({"dtypes": ()}, "dtypes must name at least one", id="no-dtypes"),
    pytest.param({"inputs": {"x": (0, 3)}}, "inputs['x'] must have every size ≥ 1", id="zero"),
    pytest.param({"inputs": {"x": [3, 4]}}, "must be a tuple of positive ints", id="list"),
    pytest.param({"inputs": {"x": (2.5,)}}, "must be a tuple of positive ints", id="float"),
    pytest.param({"inputs": {}}, "non-empty dict", id="empty"),
    pytest.param({"inputs": {"x": torch.ones(3, dtype=torch.complex64)}}, "complex64",
                 id="complex"),
    pytest.param({"inputs": {"x": torch.tensor([1.0, math.inf])}}, "non-finite", id="inf"),
    pytest.param({"inputs": {"i": torch.arange(3)}}, "none is floating", id="no-float"),
    pytest.param({"seed": -1}, "seed must be an integer in [0, 2³²)", id="seed"),
    pytest.param({"candidate": 3}, "candidate must be callable", id="candidate"),
    pytest.param({"reference": lambda x: 1 / 0}, "reference raised ZeroDivisionError",
                 id="reference-raises"),
    pytest.param({"reference": lambda x: x.detach() + 1},
                 "reference in float64: no output depends", id="reference-detached"),
    pytest.param({"limits": Limits(case_bytes=1024), "inputs": {"x": (64,)}},
                 "inputs need about 0.00391 MiB (x: 0.00391 MiB), over the memory budget of "
                 "0.000977 MiB (GRADLAB_CASE_BUDGET_MIB)", id="memory"),
])
def test_bad_arguments_raise_one_clear_error(kwargs, words):
    args = {"candidate": fn.square, "reference": fn.square_reference, "inputs": {"x": (3, 4)}}
    args |= kwargs
    with pytest.raises(GradlabError) as info:
        gradlab.verify(**args)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_a_reference_without_gradient_for_an_input_is_bad_input():
    with pytest.raises(GradlabError, match="no gradient for input 'b'"):
        gradlab.verify(fn.affine_reference, lambda x, b: 2 * x + 0 * b.detach(),
                       {"x": (3,), "b": (3,)})


def test_import_gradlab_stays_light():
    import subprocess
    import sys

    code = "import gradlab, sys; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
    # gradlab.verify is verification's run, whose reports draw with the charts layer
    assert gradlab.verify.__wrapped__ is gradlab.verification.verify


def test_a_report_draws_only_with_a_chart_builder(square_report):
    """verification sits below the charts: its bare report says where a chart comes from."""
    from gradlab.verification.run import verify

    bare = verify(fn.square, fn.square_reference, {"x": (4, 4)}, dtypes=("float32",))
    with pytest.raises(GradlabError, match="verify_chart"):
        bare.chart()
    assert bare.with_charts(lambda frame: len(frame)).chart() == 1


def test_a_forward_that_raises_away_from_x_leaves_taylor_undecided():
    calls = {"n": 0}

    def fragile(x):
        calls["n"] += 1
        if calls["n"] > 2 and x.dtype == torch.float64 and not x.requires_grad:
            raise RuntimeError("not here")
        return fn.square(x)

    report = gradlab.verify(fragile, fn.square_reference, {"x": (4,)}, dtypes=("float64",))
    row = report.frame.iloc[0]
    assert row["status"] == "pass"
    assert "Taylor test not run: the candidate raised RuntimeError: not here" in row["evidence"]


def test_the_json_keeps_the_yardsticks_old_names_for_one_release(square_report):
    """The yardstick is "autograd" in every output; verify --json still carries its 0.1
    names ("baseline_*" columns, the worst entries' "composite") through 0.2."""
    from gradlab.verification.report import OLD_JSON_KEYS, OLD_WORST_KEY

    doc = square_report.to_json_dict()
    row = doc["verdicts"][0]
    assert OLD_JSON_KEYS["baseline_max_u"] == "autograd_max_u"
    for old, new in OLD_JSON_KEYS.items():
        assert row[old] == row[new], old
    entry = doc["worst"][0]["entries"][0]
    assert entry[OLD_WORST_KEY] == entry["autograd"]
    assert "autograd/u" in str(square_report) and "composite" not in str(square_report)
