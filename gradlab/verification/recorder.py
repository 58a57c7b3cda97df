r"""What the reference's float64 truth pass does, read from its aten ops; and the
truth pass moved the way rounding moves it (``Rounder``).

verify runs the reference's forward and backward in float64 under ``Recorder`` (a
``TorchDispatchMode``), which sees every aten op of the passes it records and learns
two facts about the truth (the first on every run's first truth pass, the second on one
pass more, where a row fails the rule and its allowance needs it):

- **narrowing**: an op that takes a float64 tensor and returns a narrower
  floating one (``.float()``, ``dtype=`` inside the reference). The "truth" is
  then a float32 (or lower) computation, and verify must not judge against it.
  The first truth pass records its forward, and its backward only where the
  reference brings backward code of its own (``custom_backward``): autograd's own
  backward of float64 ops narrows nothing the forward did not (a ``.float()`` in
  the forward is seen there), and recording it cost a LayerNorm verify at 4096 about
  a tenth of its time (docs/benchmarks.md).
- **reduction lengths**: for each tensor, the length of the sum whose result it
  is: n for a matrix product's inner dimension k, a convolution's C_in·kernel
  (∂w and ∂b: N·output pixels), a softmax's row, a sum over n entries. A correct
  kernel may evaluate such a sum in any order, sequentially too, which rounds
  about √(n/2)·u relative (``allowance``). Exact reductions (max, min, sorting)
  and reshaping ops (select, gather, slicing) sum nothing.

A length follows the data through elementwise ops (∂b = Σ g · scale is still a
sum of n terms) from operands of the output's own size only: a sum's result that
is broadcast into a larger tensor (LayerNorm's mean in ∂x) is one small term of
each entry there, not the entry.
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import BackwardCFunction
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

__all__ = ["custom_backward", "Recorder", "Rounder", "op_lengths"]

F64 = torch.float64

#: Matrix products: the inner dimension k is the last of the first matrix operand
#: (addmm, addmv, baddbmm, addbmm take the added tensor first).
_PRODUCTS = {"mm": 0, "bmm": 0, "mv": 0, "dot": 0, "vdot": 0, "matmul": 0, "inner": 0,
             "addmm": 1, "addmv": 1, "baddbmm": 1, "addbmm": 1, "_addmm_activation": 1,
             "linear": 0}
#: Sums over whole dimensions: the length is the entries in over the entries out.
_SUMS = {"sum", "mean", "nansum", "nanmean", "var", "std", "var_mean", "std_mean",
         "linalg_vector_norm", "norm", "prod", "logsumexp", "trace", "_sum_to_size",
         "sum_to_size", "dist", "frobenius_norm", "nuclear_norm", "renorm"}
#: Reductions along one dimension ``dim`` (its size is the length).
_ALONG = {"_softmax", "_log_softmax", "_softmax_backward_data",
          "_log_softmax_backward_data", "cumsum", "cumprod", "logcumsumexp"}


def _numel(t) -> int:
    return t.numel() if isinstance(t, torch.Tensor) else 1


def _dim_size(t: torch.Tensor, dim) -> int:
    if not isinstance(dim, int) or t.dim() == 0:
        return 1
    return t.shape[dim]


def op_lengths(name: str, args: tuple, kwargs: dict, outs: list[torch.Tensor]) -> list[int]:
    """The length of the longest sum each output of aten op ``name`` does itself
    (1 where it sums nothing)."""
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    ones = [1] * len(outs)
    if name in _PRODUCTS:
        mats = tensors[_PRODUCTS[name]:]
        return [mats[0].shape[-1] if mats and mats[0].dim() else 1] * len(outs)
    if name in ("convolution", "_convolution", "conv1d", "conv2d", "conv3d"):
        weight = args[1]
        return [math.prod(weight.shape[1:])] * len(outs)
    if name == "convolution_backward":
        grad_out, weight = args[0], args[2]
        groups = args[9] if len(args) > 9 and isinstance(args[9], int) and args[9] > 0 else 1
        channels = max(weight.shape[0] // groups, weight.shape[1])  # transposed: the other
        per_pixel = channels * math.prod(weight.shape[2:])
        over_pixels = grad_out.shape[0] * math.prod(grad_out.shape[2:])
        return [per_pixel, over_pixels, over_pixels][:len(outs)]
    if name in _ALONG:
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        return [_dim_size(tensors[0], dim)] * len(outs)
    if name in ("native_layer_norm", "native_layer_norm_backward"):
        x = tensors[1] if name.endswith("backward") else tensors[0]
        shape = args[2] if name.endswith("backward") else args[1]
        row = math.prod(shape)
        return [row] + [max(1, x.numel() // max(1, row))] * (len(outs) - 1)
    if "batch_norm" in name:
        x = tensors[1] if "backward" in name else tensors[0]
        per_channel = x.numel() // max(1, x.shape[1] if x.dim() > 1 else 1)
        return [per_channel] * len(outs)
    if name in _SUMS:
        biggest = max((_numel(t) for t in tensors), default=1)
        return [max(1, biggest // max(1, o.numel())) for o in outs]
    return ones


def _tensors(tree) -> list[torch.Tensor]:
    """The tensors of an aten op's arguments or result, nested in tuples (a
    ``torch.return_types`` result too), lists and dicts, in order: ``tree_leaves``'s
    tensors, without its registry lookups (a few µs a node, on every op recorded)."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, (tuple, list)):
        return [t for item in tree for t in _tensors(item)]
    if isinstance(tree, dict):
        return [t for item in tree.values() for t in _tensors(item)]
    return []


def custom_backward(outputs) -> bool:
    """Whether autograd's graph behind ``outputs`` holds backward code of the function's
    own: a custom ``autograd.Function`` or a custom op's registered autograd (a
    ``BackwardCFunction`` node). Everywhere else the backward is autograd's own formulas
    for the ops the forward ran, which keep float64 in float64 unless the forward
    narrowed (and the forward's record sees that)."""
    stack = [o.grad_fn for o in outputs if isinstance(o, torch.Tensor)]
    seen = set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        if isinstance(node, BackwardCFunction):
            return True
        seen.add(id(node))
        stack.extend(n for n, _ in node.next_functions)
    return False


class Recorder(TorchDispatchMode):
    """Run code under ``with Recorder() as r:``; then ``r.narrowing`` names the first
    op that narrowed a float64 tensor (None if none did) and ``r.length(t)`` is
    the length of the sum tensor ``t`` is the result of (1 for none).

    ``Recorder(lengths=False)`` learns the narrowing alone, for less than half the
    Python per op (``length`` is then 1): verify's first truth pass, whose lengths
    only a row that fails the rule needs (``allowance``)."""

    def __init__(self, lengths: bool = True):
        super().__init__()
        self._lengths = WeakIdKeyDictionary()
        self.narrowing: str | None = None
        self.recording_lengths = lengths

    def length(self, t: torch.Tensor) -> int:
        return self._lengths.get(t, 1)

    def _see_narrowing(self, func, args, kwargs, out) -> None:
        """Name ``func`` in ``narrowing`` if it returns a floating tensor narrower than
        float64 from a float64 one (a single tensor result, the usual case, is read
        without walking it)."""
        if isinstance(out, torch.Tensor):
            if out.dtype == F64 or not out.is_floating_point():
                return
            narrow = out
        else:
            narrow = next((t for t in _tensors(out) if t.is_floating_point()
                           and t.dtype != F64), None)
            if narrow is None:
                return
        if any(t.dtype == F64 for t in _tensors(args) + _tensors(kwargs)):
            self.narrowing = f"{func} turns float64 into {str(narrow.dtype)[6:]}"

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.narrowing is None:
            self._see_narrowing(func, args, kwargs, out)
        if not self.recording_lengths:
            return out
        outs = _tensors(out)
        if not outs:
            return out
        ins = _tensors(args) + _tensors(kwargs)
        name = func.overloadpacket.__name__
        try:
            own = op_lengths(name, args, kwargs, outs)
        except (IndexError, TypeError, AttributeError):  # an overload of another form
            own = [1] * len(outs)
        for t, n in zip(outs, own):
            same = (self.length(i) for i in ins if i.numel() == t.numel())
            self._lengths[t] = max(same, default=1) if n == 1 else n
        return out


#: Ops whose result is exact (a selection, a sign, a copy): no rounding moves it.
_EXACT = {"neg", "abs", "relu", "where", "clamp", "clamp_min", "clamp_max", "maximum",
          "minimum", "amax", "amin", "max", "min", "sort", "topk", "gather", "index",
          "index_select", "scatter", "cat", "stack", "clone", "_to_copy", "copy",
          "zeros_like", "ones_like", "full_like", "empty_like", "zeros", "ones", "full",
          "fill", "masked_fill", "sign", "floor", "ceil", "round", "trunc", "new_zeros",
          "new_ones", "new_full", "new_empty", "lift_fresh", "lift_fresh_copy",
          "constant_pad_nd", "embedding", "threshold_backward", "scalar_tensor", "detach",
          "alias", "slice_scatter", "select_scatter", "index_put", "masked_scatter",
          "eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf", "logical_not", "argmax",
          "argmin", "randint", "randn", "rand", "normal", "bernoulli", "sum_to_size"}


#: Ops exact on whole numbers (below 2^p): integer arithmetic.
_INTEGER_ARITHMETIC = {"add", "sub", "rsub", "mul", "neg", "sum"}


def _whole(args, kwargs) -> bool:
    """Whether every number among an op's arguments is a whole number."""
    for a in tree_leaves((args, kwargs)):
        if isinstance(a, torch.Tensor):
            if a.is_floating_point() and not bool((a == a.round()).all()):
                return False
        elif isinstance(a, float) and not a.is_integer():
            return False
    return True


class Rounder(TorchDispatchMode):
    """Every op that computes (not a view, a copy, an in-place update or an exact
    selection) has its floating results moved by a relative ±u, a random sign per
    entry: the standard model fl(a ∘ b) = (a ∘ b)(1 + δ), |δ| ≤ u, of each result a
    correct kernel rounds.

    Integer arithmetic is left alone: the sum, difference or product of whole
    numbers (an index computed as floor(x) + 1, a count) is exact in any dtype up to
    2^p, and moving an index would move what it selects. (Not a whole result of other
    arithmetic: exp(0) = 1 in the reference may be exp(a rounding) in a kernel.)

    ``signs`` keeps the signs drawn, in op order; ``Rounder.mirror(other)`` moves
    each result by the opposite signs of ``other`` (its antithetic partner: where
    the ops or their shapes differ, fresh signs)."""

    def __init__(self, u: float, generator: torch.Generator,
                 opposite: list[torch.Tensor] | None = None):
        super().__init__()
        self.u, self.generator = u, generator
        self.signs: list[torch.Tensor] = []
        self._opposite = opposite

    @classmethod
    def mirror(cls, other: Rounder) -> Rounder:
        """A Rounder whose moves are ``other``'s, negated."""
        return cls(other.u, other.generator, other.signs)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name in _EXACT or name.endswith("_") or func.is_view or func._schema.is_mutable:
            return out
        if name in _INTEGER_ARITHMETIC and _whole(args, kwargs):
            return out
        if isinstance(out, torch.Tensor):
            return self._moved(out)
        if isinstance(out, tuple) and all(isinstance(t, torch.Tensor) for t in out):
            return tuple(self._moved(t) for t in out)
        return out

    def _moved(self, t: torch.Tensor) -> torch.Tensor:
        if not t.is_floating_point() or not t.numel():
            return t
        sign = self._sign(t)
        self.signs.append(sign)
        return t * (1 + self.u * sign)

    def _sign(self, t: torch.Tensor) -> torch.Tensor:
        k = len(self.signs)
        if self._opposite is not None and k < len(self._opposite) \
                and self._opposite[k].shape == t.shape:
            return -self._opposite[k].to(t.dtype)
        return torch.randint(0, 2, t.shape, generator=self.generator, dtype=t.dtype) * 2 - 1
