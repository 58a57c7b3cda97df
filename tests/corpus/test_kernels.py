"""The hand-written kernels of the corpus (gradlab/corpus/kernels.py): each backward is
the derivative of its reference in float64, each planted mistake is visible in float64
on the gradients it touches, every kernel computes in its inputs' dtype, and verify
runs them. Verdicts are not asserted here: what verify says of them is a measurement."""

from __future__ import annotations

import pytest
import torch

import gradlab
from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.corpus import kernels
from gradlab.corpus.entry import Entry, Skipped
from gradlab.corpus.kernels import KERNELS, MISTAKES

LOW = ("float32", "bfloat16", "float16")
F64 = torch.float64


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread on the shared two-core machine (as tests/verify do)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def draw(inputs: dict, seed: int) -> list[torch.Tensor]:
    """The inputs in float64: a shape drawn N(0, 1) from a generator seeded ``seed``, a
    tensor as given."""
    gen = torch.Generator().manual_seed(seed)
    return [v.clone() if isinstance(v, torch.Tensor)
            else torch.randn(v, generator=gen, dtype=F64) for v in inputs.values()]


def run(fn, args: list[torch.Tensor], dtype: torch.dtype, seed: int):
    """(output, gradients) of ``fn`` on ``args`` rounded to ``dtype``, with an upstream
    gradient drawn in float64 from ``seed`` and rounded likewise."""
    leaves = [a.to(dtype).requires_grad_() for a in args]
    out = fn(*leaves)
    gen = torch.Generator().manual_seed(seed + 1)
    upstream = torch.randn(out.shape, generator=gen, dtype=F64).to(dtype)
    return out, torch.autograd.grad(out, leaves, upstream)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """max|a − b| / max|b| in float64."""
    return ((a.to(F64) - b.to(F64)).abs().max() / b.to(F64).abs().max()).item()


def kernel_id(k) -> str:
    return k.name


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kernel", KERNELS, ids=kernel_id)
def test_backward_is_the_references_derivative_in_float64(kernel, seed):
    args = draw(kernel.inputs(seed), seed)
    _, got = run(kernel.candidate, args, F64, seed)
    _, want = run(kernel.reference, args, F64, seed)
    for name, g, w in zip(kernel.inputs(seed), got, want):
        assert relative(g, w) <= 1e-10, f"{kernel.name} ∂{name}: {relative(g, w):.3g}"


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_planted_mistake_changes_the_gradients_it_touches(mistake):
    kernel = next(k for k in KERNELS if k.name == mistake.kernel)
    names = list(kernel.inputs(0))
    assert mistake.touches and set(mistake.touches) <= set(names)
    args = draw(kernel.inputs(0), 0)
    _, wrong = run(mistake.fn, args, F64, 0)
    _, right = run(kernel.candidate, args, F64, 0)
    for name, w, r in zip(names, wrong, right):
        if name in mistake.touches:
            assert relative(w, r) >= 1e-3, f"{mistake.name} ∂{name}: {relative(w, r):.3g}"


@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("kernel", KERNELS, ids=kernel_id)
def test_outputs_and_gradients_come_out_in_the_input_dtype(kernel, dtype):
    torch_dtype = dtype_info(dtype).torch_dtype
    out, grads = run(kernel.candidate, draw(kernel.inputs(0), 0), torch_dtype, 0)
    assert out.dtype == torch_dtype
    assert [g.dtype for g in grads] == [torch_dtype] * len(grads)
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("kernel", KERNELS, ids=kernel_id)
def test_verify_runs_each_kernel_without_error_rows(kernel):
    report = gradlab.verify(kernel.candidate, kernel.reference, kernel.inputs(0),
                            dtypes=("float32",), seed=0)
    frame = report.frame
    assert list(frame["input"]) == list(kernel.inputs(0))
    assert "error" not in set(frame["status"]), frame[["input", "status", "evidence"]]


@pytest.mark.parametrize("mistake", MISTAKES[:3], ids=lambda m: m.name)
def test_verify_runs_planted_mistakes(mistake):
    kernel = next(k for k in KERNELS if k.name == mistake.kernel)
    report = gradlab.verify(mistake.fn, kernel.reference, kernel.inputs(0),
                            dtypes=("float32",), seed=0)
    assert "error" not in set(report.frame["status"])


def test_ill_conditioned_inputs_are_seeded_and_reach_large_scores():
    a, b, c = (kernels.ill_conditioned_qkv(s) for s in (0, 0, 1))
    assert all(torch.equal(a[n], b[n]) for n in "qkv")
    assert not torch.equal(a["q"], c["q"])
    assert all(t.dtype == F64 for t in a.values())
    q, k = a["q"], a["k"]
    peak = kernels.scores(q, k, kernels.softmax_scale(q)).abs().max().item()
    assert 3e3 < peak < 6e4  # about ±1e4, and within float16's range


def test_clamp_conventions_differ_only_at_the_kinks():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 1.0, 3.0], dtype=F64, requires_grad=True)
    (mine,) = torch.autograd.grad(kernels.clamp(x), x, torch.ones(6, dtype=F64))
    (ref,) = torch.autograd.grad(kernels.clamp_reference(x), x, torch.ones(6, dtype=F64))
    assert mine.tolist() == [0, 0, 1, 1, 0, 0]
    assert ref.tolist() == [0, 1, 1, 1, 1, 0]


def test_sparsemax_projects_onto_the_simplex():
    z = torch.randn(kernels.SPARSEMAX_SHAPE, generator=torch.Generator().manual_seed(3),
                    dtype=F64)
    p = kernels.sparsemax(z)
    assert (p >= 0).all()
    assert torch.allclose(p.sum(-1), torch.ones(p.shape[0], dtype=F64), atol=1e-12)
    assert torch.equal(p, kernels.sparsemax_reference(z))


def test_sequential_sum_differs_from_the_blocked_sum_by_tens_of_u():
    """The reason for the kernel: ∂W summed row by row in float32 is tens of u from the
    exact sum, torch's matmul a few."""
    x, w, b = draw(kernels.linear_inputs(0), 0)
    _, exact = run(kernels.sequential_linear_reference, [x, w, b], F64, 0)
    _, seq = run(kernels.sequential_linear, [x, w, b], torch.float32, 0)
    _, blocked = run(kernels.sequential_linear_reference, [x, w, b], torch.float32, 0)
    u = dtype_info("float32").u
    assert relative(seq[1], exact[1]) > 10 * u
    assert relative(seq[1], exact[1]) > 3 * relative(blocked[1], exact[1])


def test_mistake_entries():
    entries = kernels.kernel_mistakes(0)
    assert [e.name for e in entries] == [m.name for m in MISTAKES]
    assert len({e.name for e in entries}) == len(entries)
    for entry, mistake in zip(entries, MISTAKES):
        assert isinstance(entry, Entry) and entry.family == "kernel"
        assert entry.name.startswith(f"mistake.{mistake.kernel}.")
        assert entry.dtypes == DTYPE_NAMES and entry.reference_kind == "formula"
        assert "mistake" in entry.tags
        assert {t.removeprefix("touches:") for t in entry.tags if t.startswith("touches:")} \
            == set(mistake.touches)


@pytest.mark.slow
def test_kernel_entries_and_skipped():
    """The correct kernels, and the compiled LayerNorm as an entry in the dtypes inductor
    compiles it in and as a Skipped for the others. Slow: inductor compiles the
    LayerNorm once per dtype, 17 s from a cold inductor cache (1 thread)."""
    entries, skipped = kernels.kernel_entries(1), kernels.kernel_skipped()
    names = [e.name for e in entries]
    assert len(set(names)) == len(names)
    assert names[:len(KERNELS)] == [f"kernel.{k.name}" for k in KERNELS]
    assert "kernel.blockwise_attention.ill_conditioned" in names
    for entry in entries:
        assert isinstance(entry, Entry) and entry.family == "kernel"
        assert entry.reference_kind == ("eager" if "compile" in entry.name else "formula")
    assert all(isinstance(s, Skipped) and s.family == "kernel" and s.reason for s in skipped)
    compiled = [e for e in entries if e.name == "kernel.compiled_layernorm"]
    covered = set(compiled[0].dtypes) if compiled else set()
    if covered != set(DTYPE_NAMES):
        assert [s.name for s in skipped] == ["kernel.compiled_layernorm"]
    else:
        assert skipped == []


@pytest.mark.slow
def test_compiled_layer_norm_matches_eager_and_keeps_the_dtype():
    dtypes = kernels.compiled_dtypes()
    if not dtypes:
        pytest.skip(kernels.kernel_skipped()[0].reason)
    args = draw(kernels.layer_norm_inputs(0), 0)
    for dtype in dtypes:
        torch_dtype = dtype_info(dtype).torch_dtype
        out, got = run(kernels.compiled_layer_norm, args, torch_dtype, 0)
        _, want = run(kernels.layer_norm, args, torch_dtype, 0)
        assert out.dtype == torch_dtype and all(g.dtype == torch_dtype for g in got)
        if dtype == "float64":
            assert all(relative(g, w) <= 1e-10 for g, w in zip(got, want))
    entry = next(e for e in kernels.kernel_entries(0) if e.name == "kernel.compiled_layernorm")
    report = gradlab.verify(entry.candidate, entry.reference, entry.inputs,
                            dtypes=("float32",), seed=0)
    assert "error" not in set(report.frame["status"])
