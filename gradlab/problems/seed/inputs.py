"""Inputs: drawn once per (sizes, seed) in float64, then rounded per dtype."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from gradlab.core.dtypes import dtype_info
from gradlab.core.errors import GradlabError
from gradlab.core.memory import huge_empty
from gradlab.core.normals import standard_normal
from gradlab.problems.seed.case import DRAWS, EARLIER_DRAWS, NUMPY_DRAWS, Case

__all__ = ["case_draws", "case_inputs", "draw", "draw_digest", "draw_notebook", "draw_numpy_sfc64",
           "draw_scheme", "draw_torch_randn", "Inputs", "SCHEMES"]


@dataclass(frozen=True)
class Inputs:
    """W (m×n), X (batch×n, one token a row), g (m), b (m) and ε, all in one dtype.

    ``eps`` is a 0-d tensor in that dtype: ε is an input too, and in float16
    1e-8 rounds to 0. The reference reads it back from here.
    """

    W: torch.Tensor
    X: torch.Tensor
    g: torch.Tensor
    b: torch.Tensor
    eps: torch.Tensor

    @property
    def dtype(self) -> torch.dtype:
        return self.W.dtype

    def to(self, dtype: torch.dtype) -> Inputs:
        """The same values rounded to (or, from a narrower dtype, held exactly in) ``dtype``.

        A tensor is rounded into ``huge_empty`` memory: the bits of ``t.to(dtype)``
        without the page faults of a fresh array (in a check at m = n = 2048 in float32,
        the rounding took 13 ms with them and 5 ms without).
        """
        return Inputs(*(_to(t, dtype) for t in (self.W, self.X, self.g, self.b, self.eps)))

    def on(self, device: str | torch.device) -> Inputs:
        """The same tensors on ``device`` (values unchanged)."""
        return Inputs(*(t.to(device) for t in (self.W, self.X, self.g, self.b, self.eps)))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"W": self.W, "x": self.X, "g": self.g, "b": self.b}


def _to(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t.to(dtype)``, a CPU tensor rounded into ``huge_empty`` memory."""
    if t.dtype == dtype or t.device.type != "cpu":
        return t.to(dtype)
    return huge_empty(tuple(t.shape), dtype).copy_(t)


def draw(m: int, n: int, batch: int, seed: int, scale: float = 1.0,
         eps: float = 0.0) -> Inputs:
    """float64 draws from a seeded stream, in the order W, X, g, b (``case.DRAWS``).

    W ~ scale·N(0, 1)/√n keeps a = W x of order 1 whatever n is; x, g, b ~ N(0, 1).
    The stream is numpy's SFC64 seeded with ``seed``, and the normals
    ``normals.standard_normal``'s: a ziggurat taken a block of entries at a time,
    single-threaded, so the same seed gives the same bits at any thread count and in
    any worker process. At m = n = 2048 it takes 5.7 ns an entry here (W's scaling
    included), numpy's own ziggurat on the same stream (``draw_numpy_sfc64``, the
    draws before) 8.2 ns and torch's seeded float64 ``randn`` 15.9 ns
    (docs/benchmarks.md, "Issue 21's figures with the block ziggurat").
    """
    bits = np.random.SFC64(seed)
    W = standard_normal(bits, (m, n))
    W *= scale / math.sqrt(n)
    X = standard_normal(bits, (batch, n))
    g = standard_normal(bits, (m,))
    b = standard_normal(bits, (m,))
    return _inputs(W, X, g, b, eps)


def draw_numpy_sfc64(m: int, n: int, batch: int, seed: int, scale: float = 1.0,
                     eps: float = 0.0) -> Inputs:
    """The inputs as gradlab drew them before ``draw`` (``case.NUMPY_DRAWS``): numpy's
    ``Generator(SFC64(seed))`` and its own ziggurat normals, one entry at a time; W
    (× scale/√n), X, g, b in that order. For re-running such a row, and for the
    held-out cases found on those draws."""
    rng = np.random.Generator(np.random.SFC64(seed))
    # W is drawn into numpy's memory and scaled in place: numpy backs a large array
    # with transparent huge pages, where a fresh torch tensor of 32 MiB faults its
    # 8192 pages in one at a time.
    W = rng.standard_normal((m, n))
    W *= scale / math.sqrt(n)
    X = rng.standard_normal((batch, n))
    g = rng.standard_normal(m)
    b = rng.standard_normal(m)
    return _inputs(W, X, g, b, eps)


def _inputs(W: np.ndarray, X: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> Inputs:
    """float64 ``Inputs`` sharing the arrays' memory, with ε."""
    return Inputs(*map(torch.from_numpy, (W, X, g, b)), torch.tensor(eps, dtype=torch.float64))


def draw_torch_randn(m: int, n: int, batch: int, seed: int, scale: float = 1.0,
                     eps: float = 0.0) -> Inputs:
    """The inputs as gradlab drew them before ``draw_numpy_sfc64`` (``case.EARLIER_DRAWS``,
    a CSV row without a ``draws`` column): torch's generator seeded with ``seed`` and its float64
    ``randn``, W (× scale/√n), X, g, b in that order. For re-running an earlier row,
    and for the held-out cases found on those draws."""
    gen, f64 = torch.Generator().manual_seed(seed), torch.float64
    # into numpy's memory, as ``draw`` drew it then (its large W without page faults)
    W = torch.randn(m, n, generator=gen, dtype=f64, out=torch.from_numpy(np.empty((m, n))))
    W.mul_(scale / math.sqrt(n))
    X, g, b = (torch.randn(*shape, generator=gen, dtype=f64)
               for shape in ((batch, n), (m,), (m,)))
    return Inputs(W, X, g, b, torch.tensor(eps, dtype=f64))


#: Each way gradlab has drawn a case's inputs from its seed, by the ``draws`` column's name.
SCHEMES = {DRAWS: draw, NUMPY_DRAWS: draw_numpy_sfc64, EARLIER_DRAWS: draw_torch_randn}


def draw_scheme(name: str):
    """The draw function of the scheme ``name`` (a ``draws`` column's value)."""
    if name not in SCHEMES:
        raise GradlabError(f"draws: {name!r} is not one of {', '.join(SCHEMES)} "
                           "(the notebook preset draws its own)", "draws")
    return SCHEMES[name]


def draw_digest(inputs: Inputs) -> str:
    """SHA-256 of the inputs' bits (W, X, g, b, ε in order, each with its shape): two
    processes drew the same inputs exactly when their digests agree."""
    digest = hashlib.sha256()
    for t in (inputs.W, inputs.X, inputs.g, inputs.b, inputs.eps):
        t = t.detach().cpu()
        digest.update(repr((str(t.dtype), tuple(t.shape))).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def draw_notebook(eps: float = 0.0) -> Inputs:
    """The seed's draws: torch.manual_seed(0), then float32 randn of W, x, g, b, held
    in float64 (exactly) with ε, as ``draw`` holds its own.

    A private generator seeded 0 gives the same stream as the global one after
    ``torch.manual_seed(0)``, without touching global state.
    """
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(2, 3, generator=gen)
    x = torch.randn(3, generator=gen)
    g = torch.randn(2, generator=gen)
    b = torch.randn(2, generator=gen)
    # float32 → float64 is exact, so every dtype rounds the notebook's own values;
    # ε is held in float64 like every other case's, and rounded to the case dtype once.
    f64 = torch.float64
    return Inputs(W.to(f64), x.unsqueeze(0).to(f64), g.to(f64), b.to(f64),
                  torch.tensor(eps, dtype=f64))


def case_draws(case: Case, scheme: str = DRAWS) -> Inputs:
    """The case's float64 draws, before any rounding (the notebook's own, or those of
    ``scheme``, a ``draws`` column's name: ``draw`` by default): the same for every
    dtype and ε of its sizes, seed and scale."""
    if case.preset == "notebook":
        return draw_notebook(case.eps)
    return draw_scheme(scheme)(case.m, case.n, case.batch, case.seed, case.scale, case.eps)


def case_inputs(case: Case, device: str = "cpu", base: Inputs | None = None) -> Inputs:
    """The case's inputs, rounded to its dtype, on ``device``.

    They are drawn and rounded on the CPU, so every device sees the same values.
    ``base``: ``case_draws`` of a case with the same sizes, seed, scale and preset,
    already drawn (its ε is replaced by this case's).
    """
    if base is None:
        base = case_draws(case)
    else:
        base = Inputs(base.W, base.X, base.g, base.b, torch.tensor(case.eps, dtype=torch.float64))
    return base.to(dtype_info(case.dtype).torch_dtype).on(device)
