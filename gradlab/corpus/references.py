"""A reference for an OpInfo op that plain eager autograd differentiates.

Three kinds, tried in order (``KINDS``):

- ``torch._refs``: the op's Python reference from ``python_ref_db``, called
  eagerly (those built on prims have no autograd, and fail the check below);
- ``torch._decomp``: the op traced with ``make_fx`` and the decompositions of
  the aten ops it dispatches (``torch._decomp.decomposition_table``), then the
  traced graph of plain aten ops called eagerly. A graph is traced per dtype
  (decompositions upcast low precision in the graph) and kept;
- ``formula``: gradlab's short table (``formulas.FORMULAS``).

A kind is usable on a sample when, in float64, its outputs match the op's
(count and shapes) and autograd gives a gradient for every differentiated
input. It does not count when it is the op itself: the aten ops through which
the gradient flows (``record``: ops with an argument that requires grad, seen
by a TorchDispatchMode below autograd) include one of the op's own
(``own_ops``: the op's, less views and copies), since it would compare the
kernel's backward with itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from gradlab.corpus.formulas import FORMULAS
from gradlab.corpus.samples import Call, Mapped, outputs
from gradlab.verification.calls import first_line

__all__ = [
    "candidates", "Decomposed", "find_reference", "Found", "KINDS", "NONE", "own_ops",
    "prims_as_aten", "Probe", "probe", "record"
]

KINDS = ("torch._refs", "torch._decomp", "formula")
NONE = "no torch._refs, decomposition or formula"
TRACED = "(its prims traced as aten ops)"

#: aten ops that move or copy values and compute nothing: an op's own ops leave them
#: out (unless the op is nothing else), so a reference may use them freely.
PLUMBING = frozenset({
    "view", "_unsafe_view", "reshape", "expand", "permute", "t", "transpose", "unsqueeze",
    "squeeze", "slice", "select", "as_strided", "alias", "clone", "_to_copy", "copy_",
    "detach", "contiguous", "lift_fresh", "unbind", "split", "split_with_sizes", "narrow",
    "flatten", "empty_like", "zeros_like", "ones_like", "_reshape_alias", "view_as",
    "expand_as", "movedim", "squeeze_", "unsqueeze_", "copy", "fill_", "zero_", "empty",
})


class _Recorder(TorchDispatchMode):
    """The aten overloads called below autograd with an argument that requires grad."""

    def __init__(self):
        super().__init__()
        self.ops: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        leaves, _ = tree_flatten((args, kwargs))
        if any(isinstance(t, torch.Tensor) and t.requires_grad for t in leaves):
            self.ops.append(func)
        return func(*args, **kwargs)


@dataclass(frozen=True)
class Probe:
    """One float64 forward and backward: the outputs' shapes, each input's gradient
    (None: none), and the aten overloads the gradient flows through."""

    shapes: tuple[tuple[int, ...] | None, ...]
    grads: dict[str, torch.Tensor | None]
    ops: tuple
    outputs: tuple = ()

    @property
    def differentiable(self) -> tuple[int, ...]:
        """The outputs the gradient flows from (floating, and requiring grad)."""
        return tuple(i for i, o in enumerate(self.outputs)
                     if o.is_floating_point() and o.requires_grad)


def record(fn: Callable, inputs: Mapping[str, torch.Tensor], upstream_seed: int = 0) -> Probe:
    """``fn`` on ``inputs`` (name → tensor, positionally), recording its aten ops, and
    its gradient against a seeded upstream (one N(0, 1) per floating output)."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs.values()]
    rec = _Recorder()
    with torch.enable_grad(), rec:
        result = fn(*leaves)
    outs = [result] if isinstance(result, torch.Tensor) else list(result)
    shapes = tuple(tuple(o.shape) if o.is_floating_point() else None for o in outs)
    gen = torch.Generator().manual_seed(upstream_seed)
    pairs = [(o, torch.randn(o.shape, generator=gen, dtype=o.dtype)) for o in outs
             if o.is_floating_point() and o.requires_grad]
    grads: list = [None] * len(leaves)
    if pairs:
        grads = list(torch.autograd.grad([o for o, _ in pairs], leaves, [w for _, w in pairs],
                                         allow_unused=True))
    return Probe(shapes, dict(zip(inputs, grads)), tuple(rec.ops), tuple(outs))


def own_ops(ops) -> set[str]:
    """The op's own aten ops by name (``aten.relu``): those it calls, less PLUMBING
    unless that is all it calls."""
    names = {_name(op) for op in ops}
    computing = {n for n in names if n.partition(".")[2] not in PLUMBING}
    return computing or names


def _name(op) -> str:
    packet = getattr(op, "overloadpacket", op)
    return f"{getattr(packet, '_qualified_op_name', str(packet)).replace('::', '.')}"


@dataclass(frozen=True)
class Found:
    """A usable reference: its kind, what it is, and its float64 gradients."""

    kind: str
    fn: Callable
    source: str
    probe: Probe


def probe(fn: Callable, mapped: Mapped, own: set[str], cand: Probe) -> Probe | str:
    """``fn``'s float64 probe, or why it is not a usable reference."""
    try:
        got = record(fn, mapped.inputs)
    except Exception as exc:  # noqa: BLE001 (any failure: this kind is not usable)
        return _failure(exc)
    if len(got.shapes) != len(cand.shapes) or got.shapes != cand.shapes:
        return f"outputs {got.shapes} differ from the op's {cand.shapes}"
    missing = [n for n, g in got.grads.items() if g is None]
    if missing:
        return f"no gradient for {missing[0]!r}"
    itself = sorted(own & {_name(op) for op in got.ops})
    if itself:
        return f"calls {itself[0]} itself"
    return got


_NO_AUTOGRAD = re.compile(r"backward through (\S+) but no autograd formula")


def _failure(exc: Exception) -> str:
    """Why calling a reference failed, short: a prim without autograd is named."""
    if isinstance(exc, _ItselfError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "comes back to the op itself (its prims are the op)"
    match = _NO_AUTOGRAD.search(str(exc))
    if "backwards not supported on prim" in str(exc):
        return "has no autograd: it reaches a prim without a derivative"
    if match:
        return f"has no autograd: {match.group(1)} has no derivative"
    return f"raises {first_line(exc, 160)}"


class _ItselfError(RuntimeError):
    pass


def _itself(prim) -> Callable:
    """A prim whose aten implementation is the op under test: tracing stops there."""
    def stop(*args, **kwargs):
        raise _ItselfError(f"its decomposition reaches {prim}, which is the op itself")
    return stop


@functools.cache
def _python_refs() -> dict[tuple[str, str], Callable]:
    from torch.testing._internal.common_methods_invocations import python_ref_db

    return {(r.torch_opinfo_name, getattr(r, "torch_opinfo_variant_name", "")): r.op
            for r in python_ref_db}


@functools.cache
def prims_as_aten() -> dict:
    """Each prim (whose eager autograd raises) → its aten implementation, for make_fx."""
    import torch._prims as prims

    table = {}
    for name in dir(prims):
        prim = getattr(prims, name)
        if isinstance(prim, torch._ops.OpOverload) and callable(getattr(prim, "impl_aten", None)):
            table[prim] = prim.impl_aten
    return table


class Decomposed:
    """``call`` traced by make_fx with ``table`` (per input dtype, kept), then run:
    a graph of aten ops that eager autograd differentiates."""

    def __init__(self, call: Call, table: dict):
        self.call, self.table = call, table
        self.graphs: dict = {}

    def __call__(self, *tensors):
        from torch.fx.experimental.proxy_tensor import make_fx

        key = tuple((t.dtype, tuple(t.shape)) for t in tensors)
        if key not in self.graphs:
            with torch.no_grad():
                plain = [t.detach() for t in tensors]
                self.graphs[key] = make_fx(self.call, decomposition_table=self.table)(*plain)
        return outputs(self.graphs[key](*tensors))


def candidates(op, call: Call, cand: Probe) -> list[tuple[str, Callable | None, str]]:
    """(kind, function or None, what it is or why there is none) for each kind."""
    out = []
    own = own_ops(cand.ops)
    ref = _python_refs().get((op.name, op.variant_test_name))
    ref_name = f"{ref.__module__}.{ref.__name__}" if ref else "no torch._refs"
    out.append(("torch._refs", ref and call.with_fn(ref, f"torch._refs {op.name}"), ref_name))
    out.append(("torch._refs", ref and Decomposed(call.with_fn(ref, ""), prims_as_aten()),
                f"{ref_name} {TRACED}" if ref else ""))
    from torch._decomp import decomposition_table

    table = {o: decomposition_table[o] for o in set(cand.ops) if o in decomposition_table}
    table = {o: f for o, f in table.items() if _name(o) in own}
    names = ", ".join(sorted(str(o) for o in table))
    out.append(("torch._decomp", Decomposed(call, table) if table else None,
                names or "no decomposition"))
    short = {n.partition(".")[2] for n in own}
    prims = {p: (_itself(p) if getattr(f, "__name__", "") in short else f)
             for p, f in prims_as_aten().items()}
    out.append(("torch._decomp", Decomposed(call, {**prims, **table}) if table else None,
                f"{names} {TRACED}" if table else ""))
    formula = FORMULAS.get(op.name if not op.variant_test_name else "")
    out.append(("formula", formula and call.with_fn(formula, f"formula {op.name}"),
                f"gradlab.corpus.formulas[{op.name!r}]" if formula else "no formula"))
    return out


def find_reference(op, mapped: Mapped, cand: Probe) -> Found | str:
    """The first usable kind of reference for this sample, or every kind's reason."""
    own = own_ops(cand.ops)
    reasons = []
    for kind, fn, source in candidates(op, mapped.call, cand):
        if source.endswith(TRACED):
            if "has no autograd" not in reasons[-1]:
                continue  # traced only when the eager reference reaches a prim
            reasons.pop()
        if fn is None:
            if source:
                reasons.append(source)
            continue
        got = probe(fn, mapped, own, cand)
        if isinstance(got, Probe):
            return Found(kind, fn, source, got)
        reasons.append(f"{kind} {got}")
    if reasons == ["no torch._refs", "no decomposition", "no formula"]:
        return NONE
    return "; ".join(reasons)
