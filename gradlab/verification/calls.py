"""Calling a function under test: its outputs checked against the reference's, its
gradients by ``torch.autograd.grad``, and readable names and messages."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from gradlab.core.dtypes import dtype_name
from gradlab.verification.spec import shape_text

__all__ = [
    "as_outputs", "autograd_grads", "call", "describe", "failure_text", "first_line", "gradients",
    "Grads", "NotTensors"
]


def describe(fn: Callable) -> str:
    """A function's readable name: ``module.qualname``, ``Class.apply`` for an
    autograd.Function's apply."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}.{fn.__name__}"
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else name


def first_line(exc: BaseException, limit: int = 300) -> str:
    """``TypeName: first line of the message``, cut to ``limit`` characters."""
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit - 1] + "…"


class NotTensors(TypeError):
    """A function returned something other than a tensor or a tuple of tensors; the
    message says what ("returns a tuple whose element 1 is None, …")."""


def as_outputs(value) -> list:
    """A function's result as a list of tensors; NotTensors for anything else."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)) and value:
        bad = [(i, v) for i, v in enumerate(value) if not isinstance(v, torch.Tensor)]
        if not bad:
            return list(value)
        i, v = bad[0]
        what = "None" if v is None else f"a {type(v).__name__}"
        raise NotTensors(f"returns a {type(value).__name__} whose element {i} is {what}, not "
                         "a tensor (every output must be a tensor)")
    raise NotTensors(f"returns {type(value).__name__}, not a tensor or a tuple of tensors")


def failure_text(exc: BaseException) -> str:
    """How a row says why a call gave no gradients: what it returned, or what it raised."""
    return str(exc) if isinstance(exc, NotTensors) else f"raised {first_line(exc)}"


@dataclass(frozen=True)
class Grads:
    """A function's outputs' dtypes and each differentiated input's gradient (None:
    no gradient); ``failure`` says why there are none at all."""

    output_dtypes: tuple[str, ...] = ()
    grads: Mapping[str, torch.Tensor | None] | None = None
    failure: str | None = None
    #: ``measure`` of the outputs, taken before the backward ran (None: not asked, or
    #: it raised)
    measured: object = None


def call(fn: Callable, args: list[torch.Tensor], names: list[str | None]):
    """``fn`` on ``args`` with autograd recording: (the leaves, the outputs). The
    differentiated inputs (a name in ``names``) become leaves that require grad
    (shared between calls: autograd refuses an in-place change to such a leaf);
    the others are passed as copies."""
    leaves = [a.requires_grad_(True) if n else a.clone() for a, n in zip(args, names)]
    with torch.enable_grad():
        return leaves, as_outputs(fn(*leaves))


def gradients(leaves: list[torch.Tensor], outs: list[torch.Tensor], names: list[str | None],
              upstream: list[torch.Tensor | None], shapes: list[tuple | None],
              dtype: torch.dtype) -> Grads:
    """torch.autograd.grad of ``outs`` against ``upstream``, once the outputs match
    the reference's (count, shape, dtype); a ``failure`` where they do not."""
    out_dtypes = tuple(dtype_name(o.dtype) for o in outs)
    if len(outs) != len(shapes):
        return Grads(out_dtypes, failure=f"returns {len(outs)} outputs, the reference "
                                         f"{len(shapes)}")
    for i, (out, shape) in enumerate(zip(outs, shapes)):
        if shape is None:
            continue
        if tuple(out.shape) != shape:
            return Grads(out_dtypes, failure=f"output {i} has shape {shape_text(out.shape)}, "
                                             f"the reference's {shape_text(shape)}")
        if out.dtype != dtype:
            return Grads(out_dtypes, failure=f"output {i} came out in {dtype_name(out.dtype)}, "
                                             f"not {dtype_name(dtype)}: gradlab compares in "
                                             "the dtype it reports")
    pairs = [(o, w) for o, w in zip(outs, upstream) if w is not None and o.requires_grad]
    wanted = [leaf for leaf, n in zip(leaves, names) if n]
    if not pairs:
        return Grads(out_dtypes, failure="no output depends on the inputs through autograd "
                                         "(no grad_fn)")
    grads = torch.autograd.grad([o for o, _ in pairs], wanted, [w for _, w in pairs],
                                allow_unused=True)
    return Grads(out_dtypes, dict(zip([n for n in names if n], grads)))


def autograd_grads(fn: Callable, args: list[torch.Tensor], names: list[str | None],
                   upstream: list[torch.Tensor | None], shapes: list[tuple | None],
                   dtype: torch.dtype, measure: Callable | None = None) -> Grads:
    """``call`` then ``gradients``: raises where ``fn`` or its backward raises.
    ``measure``: a function of the outputs, taken between the forward and the backward
    (a backward may reuse a saved output's memory) into ``Grads.measured``, where
    there are gradients; None where it raises (outputs of the wrong shape, say)."""
    leaves, outs = call(fn, args, names)
    measured = None
    if measure is not None:
        with contextlib.suppress(Exception):  # ``gradients`` says what is wrong with them
            measured = measure(outs)
    grads = gradients(leaves, outs, names, upstream, shapes, dtype)
    if measured is not None and grads.grads is not None:
        grads = dataclasses.replace(grads, measured=measured)
    return grads
