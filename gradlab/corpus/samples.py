"""An OpInfo SampleInput mapped onto ``verify``'s positional interface.

``SampleInput(input, args, kwargs)`` becomes a list of differentiated float64
tensors and a ``Call``: a callable that puts them back into their slots and
calls a function. Every floating tensor the sample marks ``requires_grad``
(also inside tensor lists, and in kwargs) is differentiated, named "input",
"input[0]", "arg0", "arg1[0]", or its keyword; everything else (ints, shapes,
integer and bool tensors, floating tensors that take no gradient such as
batch_norm's running statistics) is fixed in the call. A fixed floating tensor
is cast to the differentiated inputs' dtype and copied at every call, so an op
that updates it in place (running statistics) changes nothing between calls.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

__all__ = [
    "Call", "Fixed", "map_sample", "Mapped", "MAX_ELEMENTS", "outputs", "outputs_list", "Slot"
]

#: The largest sample kept, in floating elements over all differentiated inputs.
MAX_ELEMENTS = 100_000


@dataclass(frozen=True)
class Slot:
    """The place of the k-th differentiated input in a sample's arguments."""

    index: int


@dataclass(frozen=True)
class Fixed:
    """A fixed tensor, copied (and a floating one cast to the run's dtype) per call."""

    value: torch.Tensor


def _split(value, name: str, names: list[str], tensors: list[torch.Tensor]):
    """``value`` with each differentiated tensor replaced by its Slot (appended to
    ``names``/``tensors``) and each fixed tensor wrapped in Fixed."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise ValueError(f"complex input: {name} is {value.dtype}")
        if value.layout != torch.strided:
            raise ValueError(f"{value.layout} input: {name}")
        if value.is_floating_point() and value.requires_grad:
            names.append(name)
            tensors.append(value.detach().to(torch.float64).clone())
            return Slot(len(tensors) - 1)
        return Fixed(value.detach().clone())
    if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in value):
        parts = [_split(v, f"{name}[{i}]", names, tensors) for i, v in enumerate(value)]
        return type(value)(parts) if isinstance(value, list) else tuple(parts)
    return value


def _fill(value, tensors, dtype):
    if isinstance(value, Slot):
        return tensors[value.index]
    if isinstance(value, Fixed):
        t = value.value
        return t.to(dtype, copy=True) if t.is_floating_point() else t.clone()
    if isinstance(value, list):
        return [_fill(v, tensors, dtype) for v in value]
    if isinstance(value, tuple) and any(isinstance(v, (Slot, Fixed)) for v in value):
        return tuple(_fill(v, tensors, dtype) for v in value)
    return value


def outputs(result) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """A function's result as verify takes it: a tensor, or the tuple of its tensors."""
    if isinstance(result, torch.Tensor):
        return result
    if isinstance(result, (list, tuple)):
        return tuple(r for r in result if isinstance(r, torch.Tensor))
    raise TypeError(f"returns {type(result).__name__}, not a tensor or tensors")


@dataclass(frozen=True)
class Call:
    """``fn`` called on a sample's arguments with the differentiated tensors given
    positionally; ``post`` is the sample's ``output_process_fn_grad``."""

    fn: Callable
    input: object
    args: tuple
    kwargs: dict
    post: Callable | None = None
    label: str = ""
    keep: tuple[int, ...] | None = None  # the outputs checked (None: all)

    def __call__(self, *tensors):
        dtype = tensors[0].dtype if tensors else torch.float64
        with warnings.catch_warnings():  # deprecations, "beta" notes: not the check's
            warnings.simplefilter("ignore")
            result = self.fn(_fill(self.input, tensors, dtype),
                             *(_fill(a, tensors, dtype) for a in self.args),
                             **{k: _fill(v, tensors, dtype) for k, v in self.kwargs.items()})
        if self.post is not None:
            result = self.post(result)
        result = outputs(result)
        if self.keep is None:
            return result
        picked = [r for i, r in enumerate(outputs_list(result)) if i in self.keep]
        return picked[0] if len(picked) == 1 else tuple(picked)

    def with_fn(self, fn: Callable, label: str) -> Call:
        return replace(self, fn=fn, label=label)

    def keeping(self, keep: tuple[int, ...]) -> Call:
        return replace(self, keep=keep)


def outputs_list(result) -> list[torch.Tensor]:
    return [result] if isinstance(result, torch.Tensor) else list(result)


@dataclass(frozen=True)
class Mapped:
    """A sample on verify's interface: the differentiated inputs by name (float64)
    and the call that takes them positionally."""

    inputs: dict[str, torch.Tensor]
    call: Call

    @property
    def elements(self) -> int:
        return sum(t.numel() for t in self.inputs.values())


def map_sample(fn: Callable, sample, label: str = "") -> Mapped | str:
    """The sample on verify's interface, or why it cannot be checked."""
    names: list[str] = []
    tensors: list[torch.Tensor] = []
    try:
        first = _split(sample.input, "input", names, tensors)
        args = tuple(_split(a, f"arg{i}", names, tensors) for i, a in enumerate(sample.args))
        kwargs = {k: _split(v, k, names, tensors) for k, v in sample.kwargs.items()}
    except ValueError as exc:
        return str(exc)
    if not tensors:
        return "no floating input that takes a gradient"
    empty = [n for n, t in zip(names, tensors) if t.numel() == 0]
    if empty:
        return f"zero elements in {empty[0]!r}"
    count = sum(t.numel() for t in tensors)
    if count > MAX_ELEMENTS:
        return f"{count:,} elements, over {MAX_ELEMENTS:,}"
    bad = [n for n, t in zip(names, tensors) if not bool(torch.isfinite(t).all())]
    if bad:
        return f"non-finite values in {bad[0]!r}"
    post = getattr(sample, "output_process_fn_grad", None)
    identity = post is None or getattr(post, "__name__", "") == "<lambda>" and _is_identity(post)
    call = Call(fn, first, args, kwargs, None if identity else post, label)
    return Mapped(dict(zip(names, tensors)), call)


def _is_identity(fn: Callable) -> bool:
    marker = object()
    try:
        return fn(marker) is marker
    except Exception:  # noqa: BLE001 (a real post-processing function)
        return False

