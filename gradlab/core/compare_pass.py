r"""One pass over a float64 truth T and the gradients G compared with it: every sum and
maximum that verify's errors need (``verdict.compare_all``), with d = G − T (G widened
exactly, then one rounding)::

    max|T|,  Σ T²,   and per gradient  max|d|,  Σ d²,  Σ d·T

and, where asked, the last gradient's max|d| over each run of ``block`` entries.

The sums are in the pass's order, the same bits on any machine, vector width and thread
count (``ordered_sum``): rows of ROW entries, the last padded with zeros; in a row,
partial i (0…511) adds the entries i + 512j, j = 0…15, in turn from +0.0; the 512
partials are added by halving, the second half added to the first entry by entry until
one is left; the rows' sums are added in turn from +0.0. Each product is rounded before
it is added (no fused multiply-add). A row's sum is so 25 additions deep: 16 in turn,
9 by halving.

The pass is a small C kernel, ``compare_pass.c``, built with the machine's C compiler
(``cc``, or $CC) on first use and kept in a cache folder ($GRADLAB_CACHE_DIR, else
$XDG_CACHE_HOME/gradlab, else ~/.cache/gradlab). It reads T and each G once, where torch
ops took about fifteen passes (docs/benchmarks.md). Where it cannot be built or loaded,
or $GRADLAB_NO_KERNEL is set, the same sums come from torch ops in the same order
(slower): the same bits either way. A kernel that is built is checked against those
torch sums before it is used.

The same kernel takes the Taylor test's L = Σ w·f and its rounding scale Σ |w·f|
(``pair_sums``), each product rounded once, in the same order: one read of w and f,
where torch's ops took a product, its absolute values and two sums.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from gradlab.core.precise import ends, widened_sub, worst

__all__ = [
    "agrees", "build", "compare_pass", "FLAGS", "GradSums", "kernel", "load", "ordered_sum",
    "pair_sums", "PARTIALS", "PassSums", "ROW", "RUN", "torch_pass",
]

#: The kernel's row, its partial sums, and the runs whose maxima a caller may ask for
#: (compare_pass.c's ROW, PARTIALS and RUN).
ROW = 8192
PARTIALS = 512
RUN = 128
#: Rows that the torch pass takes at a time (its float64 buffers stay a few MiB).
_ROWS = 32
_SOURCE = Path(__file__).with_name("compare_pass.c")
#: -ffp-contract=off: each product rounded before its sum, as torch rounds it.
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-std=gnu11",
         "-shared", "-fPIC", "-Wno-psabi")
#: The gradients' dtypes the kernel reads as they are (compare_pass.c's kinds); others
#: are widened to float32 (float16) or float64 first, exactly.
_KINDS = {torch.float64: 0, torch.float32: 1, torch.bfloat16: 2}


@dataclass(frozen=True)
class GradSums:
    """One gradient's part of the pass: max|d| (NaN if a d is NaN), Σ d², Σ d·T and
    the count of NaN or ±inf entries of G."""

    abs_max: float
    dd: float
    dt: float
    nonfinite: int


@dataclass(frozen=True)
class PassSums:
    """The pass: max|T| (NaN if T has a NaN), Σ T², each gradient's GradSums and the
    last gradient's run maxima (NaN as +inf; None where not asked)."""

    peak: float
    tt: float
    grads: tuple[GradSums, ...]
    maxima: torch.Tensor | None = None


def ordered_sum(p: torch.Tensor, total: float = 0.0) -> float:
    """``total`` + Σ p in the pass's order, p a 1-D float64 tensor whose first entry
    starts a row: the 16 slices of a row added in turn, then halving."""
    for start in range(0, p.numel(), _ROWS * ROW):
        part = p[start:start + _ROWS * ROW]
        rows = -(-part.numel() // ROW)
        if part.numel() < rows * ROW:
            part = torch.cat([part, part.new_zeros(rows * ROW - part.numel())])
        slices = part.view(rows, ROW // PARTIALS, PARTIALS)
        s = part.new_zeros(rows, PARTIALS)
        for j in range(ROW // PARTIALS):
            s += slices[:, j]
        while s.shape[1] > 1:
            half = s.shape[1] // 2
            s = s[:, :half] + s[:, half:]
        for row in s[:, 0].tolist():
            total += row
    return total


def compare_pass(truth: torch.Tensor, grads, block: int = 0) -> PassSums:
    """The pass over ``truth`` (any floating dtype, widened to float64) and ``grads``
    (its shape each), by the kernel where there is one (and the tensors are plain ones
    in memory, ``_readable``), else by ``torch_pass``; the same bits either way.
    ``block`` > 0: the last gradient's max|d| over each run of ``block`` entries of its
    first ``numel // block · block`` (``block`` divides ROW and is a multiple of RUN)."""
    return _pass(truth, grads, block, kernel())


def torch_pass(truth: torch.Tensor, grads, block: int = 0) -> PassSums:
    """``compare_pass`` by torch ops alone: the kernel's order, the reference its build is
    checked against."""
    return _pass(truth, grads, block, None)


def pair_sums(w: torch.Tensor, f: torch.Tensor) -> tuple[float, float]:
    """(Σ w·f, Σ |w·f|) over w and f flattened (widened to float64, exactly), each
    product rounded once, in the pass's order: by the kernel where there is one, else by
    torch's ops (``ordered_sum``), the same bits either way."""
    return _pair(w, f, kernel())


def _pair(w: torch.Tensor, f: torch.Tensor, lib) -> tuple[float, float]:
    w, f = _flat(w).to(torch.float64), _flat(f).to(torch.float64)
    if w.numel() != f.numel():
        raise ValueError(f"pair_sums: {w.numel()} entries against {f.numel()}")
    if lib is None or not (_readable(w) and _readable(f)):
        p = w * f
        return ordered_sum(p), ordered_sum(p.abs())
    out = (ctypes.c_double * 2)()
    if lib.gradlab_pair_sums(w.numel(), w.data_ptr(), f.data_ptr(), out):
        raise MemoryError("pair_sums: the kernel could not allocate its row buffers")
    return out[0], out[1]


def _pass(truth: torch.Tensor, grads, block: int, lib) -> PassSums:
    """``compare_pass`` by ``lib`` where it is a kernel and the tensors are ``_readable``,
    else by torch's ops."""
    for g in grads:
        if g.shape != truth.shape:
            raise ValueError(f"shape {tuple(g.shape)} against the truth's {tuple(truth.shape)}")
    if block and (ROW % block or block % RUN):
        raise ValueError(f"block {block} does not divide {ROW} into runs of a multiple of "
                         f"{RUN} entries")
    t = _flat(truth).to(torch.float64)
    gs = [_flat(g) for g in grads]
    if lib is None or not all(_readable(x) for x in (t, *gs)):
        return _finish(gs, *_torch_raw(t, gs, block))
    tt, peak, sums, top = _kernel_pass(lib, t, gs, block)
    if top is not None and math.isnan(sums[-1][0]):   # the kernel leaves a NaN out of them
        top = _torch_raw(t, gs[-1:], block)[3]
    return _finish(gs, tt, peak, sums, top)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """x as one contiguous row of its values on the CPU: a zero tensor without storage
    (autograd's efficient zeros) made real, a lazy negation or conjugation resolved."""
    x = x.detach()
    if x._is_zerotensor():
        x = torch.zeros(x.shape, dtype=x.dtype)
    return x.resolve_conj().resolve_neg().reshape(-1).cpu().contiguous()


def _readable(x: torch.Tensor) -> bool:
    """Whether the kernel may read x's memory as it is: a plain CPU tensor, dense and
    contiguous, with its values in its storage (``_flat``'s, not a tensor subclass's)."""
    return (type(x) is torch.Tensor and x.layout == torch.strided
            and x.device.type == "cpu" and x.is_contiguous() and not x.is_neg()
            and not x.is_conj() and (x.numel() == 0 or x.data_ptr() != 0))


def _whole(n: int, block: int) -> int:
    return n // block * block if block else 0


def _torch_raw(t: torch.Tensor, gs, block: int):
    """(Σ T², max|T|, [Σ d², Σ d·T, max|d|] per gradient, run maxima or None), a chunk
    of _ROWS rows at a time."""
    n, whole = t.numel(), _whole(t.numel(), block)
    tt = peak = 0.0
    sums = [[0.0, 0.0, 0.0] for _ in gs]
    maxima = []
    chunk = _ROWS * ROW
    buffer = torch.empty(min(n, chunk), dtype=torch.float64)
    for start in range(0, n, chunk):
        tb = t[start:start + chunk]
        tt = ordered_sum(tb * tb, tt)
        low, high = ends(tb)
        peak = worst(peak, -float(low), float(high))
        for j, g in enumerate(gs):
            d = widened_sub(g[start:start + chunk], tb, buffer[:tb.numel()])
            low, high = ends(d)
            sums[j] = [ordered_sum(d * d, sums[j][0]), ordered_sum(d * tb, sums[j][1]),
                       worst(sums[j][2], -float(low), float(high))]
            if block and j == len(gs) - 1 and start < whole:
                runs = d[:min(d.numel(), whole - start)].abs().view(-1, block)
                maxima.append(runs.amax(1))
    top = torch.cat(maxima) if maxima else None
    return tt, peak, sums, top


def _kernel_pass(lib, t: torch.Tensor, gs, block: int):
    """``_torch_raw``'s values from the kernel (a NaN left out of each maximum)."""
    gs = [g if g.dtype in _KINDS else g.to(torch.float32 if g.dtype == torch.float16
                                             else torch.float64) for g in gs]
    k, n = len(gs), t.numel()
    runmax = torch.zeros(-(-n // block) if block and gs else 0, dtype=torch.float64)
    truth_out = (ctypes.c_double * 2)()
    out = (ctypes.c_double * (3 * k))()
    status = lib.gradlab_compare_pass(
        n, t.data_ptr(), k, (ctypes.c_void_p * k)(*(g.data_ptr() for g in gs)),
        (ctypes.c_int32 * k)(*(_KINDS[g.dtype] for g in gs)), block,
        runmax.data_ptr() if runmax.numel() else None, truth_out, out)
    if status == -2:
        raise MemoryError("compare_pass: the kernel could not allocate its row buffers")
    if status:
        raise ValueError(f"compare_pass: the kernel refused block {block}")
    sums = [list(out[3 * j:3 * j + 3]) for j in range(k)]
    top = runmax[:_whole(n, block) // block] if runmax.numel() and _whole(n, block) else None
    return truth_out[0], truth_out[1], sums, top


def _finish(gs, tt: float, peak: float, sums, top) -> PassSums:
    """What both ways share: a NaN in T or d makes its Σ of squares NaN (nothing else
    does), so it makes its maximum NaN; a non-finite Σ d² counts G's NaN and ±inf
    entries; a run maximum with a NaN is +inf."""
    grads = []
    for g, (dd, dt, abs_max) in zip(gs, sums):
        nonfinite = 0 if math.isfinite(dd) else int((~torch.isfinite(g)).sum())
        grads.append(GradSums(math.nan if math.isnan(dd) else abs_max + 0.0, dd, dt,
                              nonfinite))
    if top is not None:
        top = top.nan_to_num_(nan=math.inf)
    return PassSums(math.nan if math.isnan(tt) else peak + 0.0, tt, tuple(grads), top)


def _cache_dir() -> Path:
    """$GRADLAB_CACHE_DIR, else $XDG_CACHE_HOME/gradlab, else ~/.cache/gradlab."""
    if os.environ.get("GRADLAB_CACHE_DIR"):
        return Path(os.environ["GRADLAB_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gradlab"


def _machine() -> str:
    """What a build with -march=native depends on: the processor and its features."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {platform.processor()} {flags}"


def build(flags: tuple[str, ...] = FLAGS, folder: Path | None = None) -> Path:
    """The kernel's shared library for ``flags``, built with $CC (else ``cc``) into
    ``folder`` (the cache folder) unless a build of the same source, flags, compiler and
    processor is there already. Raises OSError or subprocess's errors where it cannot."""
    cc = shutil.which(os.environ.get("CC") or "cc")
    if cc is None:
        raise FileNotFoundError("no C compiler (cc or $CC) on PATH")
    source = _SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, " ".join(flags).encode(), cc.encode(),
                                     _machine().encode()])).hexdigest()[:16]
    folder = folder or _cache_dir()
    path = folder / f"compare_pass-{key}.so"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            built = Path(tmp) / path.name
            subprocess.run([cc, *flags, str(_SOURCE), "-o", str(built)], check=True,
                           capture_output=True, timeout=120)
            os.replace(built, path)   # whole, or not at all, for a process beside this one
    return path


def load(path: Path) -> ctypes.CDLL:
    """The library at ``path`` with its entry's argument types."""
    lib = ctypes.CDLL(str(path))
    entry = lib.gradlab_compare_pass
    entry.restype = ctypes.c_int
    pointer = ctypes.c_void_p
    entry.argtypes = [ctypes.c_int64, pointer, ctypes.c_int32, pointer, pointer,
                      ctypes.c_int64, pointer, pointer, pointer]
    lib.gradlab_compare_pass_width.restype = ctypes.c_int
    lib.gradlab_pair_sums.restype = ctypes.c_int
    lib.gradlab_pair_sums.argtypes = [ctypes.c_int64, pointer, pointer, pointer]
    return lib


def agrees(lib) -> bool:
    """Whether the kernel gives ``torch_pass``'s bits on a few rows of every kind it
    reads (NaN, ±inf, −0.0 and a ragged last row among them), and ``pair_sums``' torch
    bits on them."""
    gen = torch.Generator().manual_seed(0)
    n = 2 * ROW + 13
    t = torch.randn(n, generator=gen, dtype=torch.float64) * 1e3
    t[5] = -0.0
    grads = [(t * (1 + 1e-3 * torch.randn(n, generator=gen, dtype=torch.float64))).to(d)
             for d in (torch.float64, torch.float32, torch.bfloat16, torch.float16)]
    grads[1][7], grads[2][ROW + 3] = math.inf, math.nan
    for gs in (grads, grads[:1]):
        want = torch_pass(t, gs, RUN)
        got = _pass(t, gs, RUN, lib)   # plain tensors: the kernel's way
        if repr(got.grads) != repr(want.grads) or (got.peak, got.tt) != (want.peak, want.tt):
            return False
        if not torch.equal(got.maxima, want.maxima):
            return False
    w = torch.randn(n, generator=gen, dtype=torch.float64)
    for f in (t, *(g.to(torch.float64) for g in grads[:3])):
        if repr(_pair(w, f, lib)) != repr(_pair(w, f, None)):
            return False
    return True


@functools.cache
def kernel() -> ctypes.CDLL | None:
    """The built kernel, or None (then ``torch_pass``): $GRADLAB_NO_KERNEL set, no
    compiler, a build or load that failed, or a build that does not agree with torch."""
    if os.environ.get("GRADLAB_NO_KERNEL"):
        return None
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    for folder in (None, Path(tempfile.gettempdir()) / f"gradlab-{user}"):
        try:
            lib = load(build(folder=folder))
        except (OSError, subprocess.SubprocessError):
            continue
        try:
            return lib if agrees(lib) else None
        except (ValueError, MemoryError):   # the build refuses what it should take
            return None
    return None
