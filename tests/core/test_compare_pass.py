"""compare_pass: the C kernel, torch's ops in its order, and a plain-Python reference of
the pass's order give the same bits, on any vector width and thread count."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlab.core import compare_pass as cp
from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.core.verdict import compare_all

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


def python_ordered_sum(values) -> float:
    """The pass's order written out: rows of ROW padded with zeros; partial i adds
    entries i + 512j (j = 0…15) in turn from +0.0; the 512 partials by halving; the
    rows in turn (plain Python floats, one rounding each)."""
    values = [float(v) for v in values]
    total = 0.0
    for start in range(0, len(values), cp.ROW):
        row = values[start:start + cp.ROW]
        row += [0.0] * (cp.ROW - len(row))
        partials = []
        for i in range(cp.PARTIALS):
            s = 0.0
            for j in range(cp.ROW // cp.PARTIALS):
                s += row[i + cp.PARTIALS * j]
            partials.append(s)
        while len(partials) > 1:
            half = len(partials) // 2
            partials = [partials[i] + partials[i + half] for i in range(half)]
        total += partials[0]
    return total


def numpy_ordered_sum(p: np.ndarray) -> float:
    """The same order by numpy (np.add.accumulate adds in turn), for sizes where
    python_ordered_sum is slow."""
    rows = -(-p.size // cp.ROW)
    padded = np.zeros(rows * cp.ROW)
    padded[:p.size] = p
    s = np.add.accumulate(padded.reshape(rows, -1, cp.PARTIALS), axis=1)[:, -1]
    while s.shape[1] > 1:
        s = s[:, :s.shape[1] // 2] + s[:, s.shape[1] // 2:]
    total = 0.0
    for row in s[:, 0]:
        total += float(row)
    return total


def draw(size: int, dtype: str, special: str, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    truth = torch.randn(size, generator=gen, dtype=torch.float64) * 10.0
    torch_dtype = DTYPES[dtype].torch_dtype
    grads = [(truth * (1 + 1e-3 * torch.randn(size, generator=gen, dtype=torch.float64)))
             .to(torch_dtype) for _ in range(2)]
    where = size // 2
    if special == "nan":
        grads[1][where] = math.nan
    elif special == "inf":
        grads[1][where] = -math.inf
    elif special == "zeros":
        truth[:where] = -0.0
        grads[0][:where] = 0.0
    elif special == "huge":   # squares overflow to inf
        truth[where] = 1e300
        grads[1][where] = -1e300 if dtype == "float64" else -3e38
    return truth, grads


@np.errstate(over="ignore", invalid="ignore")
def reference(truth: torch.Tensor, grads, block: int) -> cp.PassSums:
    """Each sum by numpy in the pass's order, each maximum by torch, nothing shared with the
    module but the definition."""
    t = truth.double().reshape(-1).numpy()
    out = []
    for g in grads:
        d = g.double().reshape(-1).numpy() - t
        nonfinite = int((~np.isfinite(g.double().reshape(-1).numpy())).sum())
        dd = numpy_ordered_sum(d * d)
        out.append(cp.GradSums(float(np.abs(d).max()) if d.size else 0.0, dd,
                               numpy_ordered_sum(d * t), 0 if math.isfinite(dd) else nonfinite))
    whole = truth.numel() // block * block if block else 0
    maxima = None
    if whole:
        last = (grads[-1].double() - truth.double()).abs().reshape(-1)[:whole]
        maxima = last.view(-1, block).amax(1).nan_to_num(nan=math.inf)
    return cp.PassSums(float(np.abs(t).max()) if t.size else 0.0, numpy_ordered_sum(t * t),
                       tuple(out), maxima)


def assert_same(got: cp.PassSums, want: cp.PassSums) -> None:
    """Bit for bit (repr of each float), NaN equal to NaN."""
    assert repr((got.peak, got.tt, got.grads)) == repr((want.peak, want.tt, want.grads))
    if want.maxima is None:
        assert got.maxima is None
    else:
        assert torch.equal(got.maxima, want.maxima)


@pytest.mark.parametrize("values", [[], [1.0], [0.1] * 9, [1e16, 1.0, -1e16] * 5],
                         ids=["empty", "one", "nine", "cancelling"])
def test_ordered_sum_adds_in_the_passs_order(values):
    p = torch.tensor(values, dtype=torch.float64)
    assert repr(cp.ordered_sum(p)) == repr(python_ordered_sum(values))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=2 * cp.ROW + 40),
       st.floats(-1e3, 1e3, allow_nan=False))
def test_ordered_sum_is_the_written_out_order_from_any_start(values, start):
    total = start   # from a start: the rows' sums added to it in turn
    for i in range(0, len(values), cp.ROW):
        total += python_ordered_sum(values[i:i + cp.ROW])
    assert repr(cp.ordered_sum(torch.tensor(values, dtype=torch.float64), start)) == repr(total)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("size", [1, 7, 8, 255, cp.ROW - 1, cp.ROW + 9, 300_001],
                         ids=lambda n: f"n{n}")
@pytest.mark.parametrize("special", ["finite", "nan", "inf", "zeros", "huge"])
def test_the_pass_gives_the_reference_bits_by_kernel_and_by_torch(dtype, size, special):
    truth, grads = draw(size, dtype, special)
    block = 256
    want = reference(truth, grads, block)
    assert_same(cp.torch_pass(truth, grads, block), want)
    assert_same(cp.compare_pass(truth, grads, block), want)
    assert_same(cp.compare_pass(truth, grads[:1]), reference(truth, grads[:1], 0))


def test_the_pass_takes_gradients_of_mixed_dtypes_and_shapes():
    gen = torch.Generator().manual_seed(3)
    truth = torch.randn(3, 5000, generator=gen, dtype=torch.float64)
    grads = [truth.to(d) for d in (torch.float16, torch.float32, torch.bfloat16)]
    grads.append(truth.t().contiguous().t())   # not contiguous
    assert_same(cp.compare_pass(truth, grads, 128), reference(truth, grads, 128))
    with pytest.raises(ValueError, match=r"shape \(5000, 3\) against the truth's \(3, 5000\)"):
        cp.compare_pass(truth, [truth.t()])
    for block in (12, 64, 3 * 128):
        with pytest.raises(ValueError, match=f"block {block} does not divide 8192"):
            cp.compare_pass(truth, grads, block)


@needs_cc
@pytest.mark.parametrize("flags", [("-mno-avx",), ("-mavx2",), ("-march=native",),
                                   ("-DGRADLAB_GENERIC",)],
                         ids=["sse2", "avx2", "native", "generic"])
def test_every_vector_width_gives_the_same_bits(flags, tmp_path):
    """The kernel built for 2, 4 and (where the processor has AVX-512) 8 doubles a
    vector, and with the select that stands for x86's max elsewhere: the same bits as
    torch's ops."""
    base = tuple(f for f in cp.FLAGS if f != "-march=native")
    lib = cp.load(cp.build(base + flags, tmp_path))
    if flags == ("-mavx2",) and "avx2" not in cp._machine().split():
        pytest.skip("no AVX2 here")
    width = lib.gradlab_compare_pass_width()
    want = {"-mno-avx": 2, "-mavx2": 4, "-DGRADLAB_GENERIC": 2}.get(flags[0], width)
    assert width == want and width in (2, 4, 8)
    assert cp.agrees(lib)
    truth, grads = draw(3 * cp.ROW + 5, "bfloat16", "nan")
    assert all(cp._readable(x) for x in (truth, *grads))   # so the kernel's way
    got = cp._pass(truth, grads, 256, lib)
    assert_same(got, cp.torch_pass(truth, grads, 256))


@needs_cc
def test_a_build_with_fused_multiply_add_is_caught_and_not_used(tmp_path):
    """-ffp-contract=fast lets the compiler fuse d·d + s into one rounding: other bits,
    which the check before use catches."""
    if "fma" not in cp._machine().split():
        pytest.skip("no FMA here")
    flags = tuple("-ffp-contract=fast" if f == "-ffp-contract=off" else f for f in cp.FLAGS)
    assert not cp.agrees(cp.load(cp.build(flags, tmp_path)))


@needs_cc
def test_where_there_is_a_compiler_compare_pass_runs_the_kernel(monkeypatch):
    """A build that failed or disagreed would leave verify on torch's ops, the same bits
    but about 8× slower: here it must be the kernel."""
    monkeypatch.delenv("GRADLAB_NO_KERNEL", raising=False)
    cp.kernel.cache_clear()
    ran = []
    kernel_pass = cp._kernel_pass
    monkeypatch.setattr(cp, "_kernel_pass", lambda *a: ran.append(1) or kernel_pass(*a))
    try:
        assert cp.kernel() is not None
        truth, grads = draw(cp.ROW + 3, "bfloat16", "finite")
        cp.compare_pass(truth, grads, 128)
    finally:
        cp.kernel.cache_clear()
    assert ran


@needs_cc
def test_a_build_is_kept_and_reused(tmp_path):
    path = cp.build(cp.FLAGS, tmp_path)
    stamp = path.stat().st_mtime_ns
    assert cp.build(cp.FLAGS, tmp_path) == path and path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [path.name]   # no temporary left


@pytest.mark.parametrize("env", [{"GRADLAB_NO_KERNEL": "1"}, {"CC": "/nonexistent/cc"}],
                         ids=["switched-off", "no-compiler"])
def test_without_the_kernel_compare_all_gives_the_same_bits(env, monkeypatch, tmp_path):
    truth, grads = draw(2 * cp.ROW + 77, "float32", "finite", seed=5)
    with_kernel = compare_all(truth, grads, "float32", 256)
    monkeypatch.setenv("GRADLAB_CACHE_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cp.kernel.cache_clear()
    try:
        assert cp.kernel() is None
        without = compare_all(truth, grads, "float32", 256)
    finally:
        monkeypatch.undo()
        cp.kernel.cache_clear()
    assert repr((with_kernel.norms, with_kernel.errors)) == repr((without.norms, without.errors))
    assert torch.equal(with_kernel.maxima, without.maxima)


def test_autograds_storage_free_zeros_and_lazy_negations_are_read_as_their_values():
    """Autograd may hand back an efficient zero tensor (no storage: its data pointer is
    0) or a lazily negated view: the pass reads their values, not their memory."""
    truth = torch.linspace(-3, 3, 400, dtype=torch.float64)
    zeros = torch._efficientzerotensor(400, dtype=torch.float64)
    negated = torch._neg_view(truth.float())
    assert zeros._is_zerotensor() and negated.is_neg()
    grads = [zeros, negated]
    want = reference(truth, [torch.zeros(400, dtype=torch.float64), -truth.float()], 128)
    assert_same(cp.compare_pass(truth, grads, 128), want)
    assert_same(cp.torch_pass(truth, grads, 128), want)


def test_the_pass_does_not_depend_on_the_thread_count():
    truth, grads = draw(1 << 20, "float32", "finite", seed=7)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            results.append((cp.compare_pass(truth, grads, 256), cp.torch_pass(truth, grads)))
    finally:
        torch.set_num_threads(threads)
    (a, b), (c, d) = results
    assert_same(a, c)
    assert_same(b, d)


def draw_pair(size: int, special: str, seed: int = 0):
    """An upstream w and outputs f for ``pair_sums``, with a special value where asked."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(size, generator=gen, dtype=torch.float64)
    f = torch.randn(size, generator=gen, dtype=torch.float64) * 1e3
    where = size // 2
    if special == "nan":
        f[where] = math.nan
    elif special == "inf":
        f[where] = -math.inf
    elif special == "zeros":
        f[:where], w[where:] = -0.0, 0.0
    elif special == "huge":   # a product overflows to inf
        w[where], f[where] = 1e200, -1e200
    return w, f


@np.errstate(over="ignore", invalid="ignore")
def pair_reference(w: torch.Tensor, f: torch.Tensor) -> tuple[float, float]:
    p = w.reshape(-1).numpy() * f.reshape(-1).numpy()
    return numpy_ordered_sum(p), numpy_ordered_sum(np.abs(p))


@pytest.mark.parametrize("size", [1, 7, 255, cp.ROW - 1, cp.ROW + 9, 300_001],
                         ids=lambda n: f"n{n}")
@pytest.mark.parametrize("special", ["finite", "nan", "inf", "zeros", "huge"])
def test_pair_sums_give_the_reference_bits_by_kernel_and_by_torch(size, special):
    """The Taylor test's Σ w·f and Σ |w·f|: each product rounded once, summed in the
    pass's order, by the kernel (where built) and by torch's ops alike."""
    w, f = draw_pair(size, special)
    want = repr(pair_reference(w, f))
    assert repr(cp._pair(w, f, None)) == want
    assert repr(cp.pair_sums(w, f)) == want


def test_pair_sums_read_any_shape_and_dtype_of_f_as_its_float64_values():
    w, f = draw_pair(3 * 64, "finite", seed=3)
    f32 = f.float()
    want = repr(pair_reference(w, f32.double()))
    assert repr(cp.pair_sums(w.view(3, 64), f32.view(3, 64))) == want
    assert repr(cp.pair_sums(w, torch._neg_view(-f32))) == want   # a lazy negation
    assert cp.pair_sums(w[:0], f[:0]) == (0.0, 0.0)
    with pytest.raises(ValueError, match="entries"):
        cp.pair_sums(w, f[:-1])


@needs_cc
def test_the_kernels_pair_sums_are_the_torch_bits_at_every_vector_width(tmp_path):
    base = tuple(f for f in cp.FLAGS if f != "-march=native")
    for flags in (("-mno-avx",), ("-DGRADLAB_GENERIC",), ("-march=native",)):
        lib = cp.load(cp.build(base + flags, tmp_path))
        for special in ("finite", "nan", "zeros"):
            w, f = draw_pair(2 * cp.ROW + 5, special, seed=1)
            assert repr(cp._pair(w, f, lib)) == repr(cp._pair(w, f, None))
