"""Plain-op formulas for a few important ops that have no usable torch._refs or
decomposition (its prims have no autograd, or it calls the op itself).

Each takes the op's own signature and differentiates by autograd through other
ops than the op under test: abs through sign, amax/amin through a tie mask (the
gradient splits evenly over ties, as torch's does), atan2 through atan, the
matrix products through a broadcast multiply and a sum, conv2d through unfold
(im2col) and a matmul.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["FORMULAS", "conv2d"]


def _extreme(x, dim, keepdim, pick):
    """amax/amin as the mean over the ties: value max x, gradient mask / count."""
    dim = tuple(range(x.dim())) if dim in (None, (), []) else dim
    m = (x == pick(x.detach(), dim, keepdim=True)).to(x.dtype)
    return (x * m).sum(dim, keepdim=keepdim) / m.sum(dim, keepdim=keepdim)


def _sum(x, dim=None, keepdim=False, dtype=None):
    """sum as mean × count (mean's backward, not sum's)."""
    m = x.mean() if dim is None else x.mean(dim, keepdim=keepdim)
    return (m * (x.numel() // m.numel())).to(dtype or x.dtype)


def _matmul(a, b):
    """a @ b as a broadcast product summed over the shared index (1-D operands too)."""
    a2, b2 = (a.unsqueeze(0) if a.dim() == 1 else a), (b.unsqueeze(-1) if b.dim() == 1 else b)
    out = (a2.unsqueeze(-1) * b2.unsqueeze(-3)).sum(-2)
    out = out.squeeze(-2) if a.dim() == 1 else out
    return out.squeeze(-1) if b.dim() == 1 else out


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d through F.unfold (im2col, whose backward is col2im) and a matmul."""
    single = x.dim() == 3
    x = x.unsqueeze(0) if single else x
    kh, kw = w.shape[-2:]
    dil = _pair(dilation)
    if isinstance(padding, str):  # 'valid' or 'same' (stride 1)
        total = [0, 0] if padding == "valid" else [d * (k - 1) for d, k in zip(dil, (kh, kw))]
        x = F.pad(x, (total[1] // 2, total[1] - total[1] // 2, total[0] // 2,
                      total[0] - total[0] // 2))
        padding = 0
    pad, st = _pair(padding), _pair(stride)
    n, c, h, wd = x.shape
    oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // st[0] + 1
    ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // st[1] + 1
    cols = F.unfold(x, (kh, kw), dil, pad, st).view(n, groups, c // groups * kh * kw, -1)
    out = (w.reshape(groups, w.shape[0] // groups, -1) @ cols).reshape(n, w.shape[0], oh, ow)
    out = out if b is None else out + b.view(1, -1, 1, 1)
    return out.squeeze(0) if single else out


#: OpInfo name → a formula with the op's signature (reference_kind "formula").
FORMULAS = {
    "abs": lambda x: x * x.detach().sign(),
    "amax": lambda x, dim=(), keepdim=False: _extreme(x, dim, keepdim, torch.amax),
    "amin": lambda x, dim=(), keepdim=False: _extreme(x, dim, keepdim, torch.amin),
    "atan2": lambda y, x: torch.atan(y / x) + (x < 0) * torch.copysign(
        torch.full_like(y, math.pi), y),
    "sum": _sum,
    "mm": lambda a, b: _matmul(a, b),
    "bmm": lambda a, b: _matmul(a, b),
    "mv": lambda a, b: _matmul(a, b),
    "matmul": lambda a, b: _matmul(a, b),
    "nn.functional.conv2d": conv2d,
}
