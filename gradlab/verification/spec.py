"""verify's arguments: the dtypes, the seed and the inputs, validated and drawn.

``inputs`` maps each name to a shape (a tuple of positive ints; ``()`` is a
scalar) or a tensor, in the order of the functions' positional arguments. A
shape is drawn from N(0, 1) in float64 by a generator seeded ``seed`` (in the
order of the dict); a floating tensor is taken as given; either is rounded to
each dtype. An integer or bool tensor passes through unchanged and is not
differentiated.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from gradlab.core.dtypes import DTYPE_NAMES, dtype_info
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.core.precise import abs_max

__all__ = [
    "BYTES_PER_ENTRY", "check_dtypes", "check_inputs", "check_memory", "check_seed", "check_shape",
    "DEFAULT_DTYPES", "draw_inputs", "estimate_bytes", "F64", "Input", "integers", "mib",
    "overflow_threshold", "parse_shape", "SEED_LIMIT", "shape_text", "side_generator"
]

F64 = torch.float64
#: verify's dtypes when none are given.
DEFAULT_DTYPES = ("float32", "bfloat16", "float16")
#: The seeds verify takes: a problem's own draws use seed + 2³² (problems.registry).
SEED_LIMIT = 2**32
#: A generous estimate of verify's peak bytes per floating entry: the float64 draw,
#: the rounded copy and its float64 image, three gradients (candidate, autograd,
#: truth) and the difference blocks of the comparison.
BYTES_PER_ENTRY = 64


@dataclass(frozen=True, eq=False)
class Input:
    """One argument: its name and shape; ``values`` are the float64 values of a
    floating input (drawn or given), ``fixed`` the tensor of an integer or bool one."""

    name: str
    shape: tuple[int, ...]
    values: torch.Tensor | None
    fixed: torch.Tensor | None
    drawn: bool

    @property
    def differentiated(self) -> bool:
        return self.fixed is None

    @functools.cached_property
    def peak(self) -> float:
        """max|values| (0 for an integer input; NaN or inf if a value is not finite)."""
        return abs_max(self.values) if self.fixed is None else 0.0

    def overflows(self, dtype: torch.dtype) -> bool:
        """Whether rounding to ``dtype`` makes an entry infinite: rounding is monotonic,
        so exactly when it makes max|values| infinite (``overflow_threshold``: inf for
        float64, which an infinite peak still reaches)."""
        return self.fixed is None and self.peak >= overflow_threshold(dtype)

    def at(self, dtype: torch.dtype) -> torch.Tensor:
        """The values rounded to ``dtype`` (a fresh tensor), or the fixed tensor."""
        if self.fixed is not None:
            return self.fixed.clone()
        return self.values.to(dtype, copy=True)

    def describe(self) -> str:
        """"16x1024 drawn", "float32 tensor 16x1024", "int64 tensor 64"."""
        shape = shape_text(self.shape)
        if self.drawn:
            return f"{shape} drawn"
        tensor = self.fixed if self.fixed is not None else self.values
        kind = str(tensor.dtype).removeprefix("torch.") if self.fixed is not None else "given"
        return f"{kind} {shape}"


@functools.cache
def overflow_threshold(dtype: torch.dtype) -> float:
    """The least float64 magnitude that torch's rounding to ``dtype`` (``Tensor.to``)
    makes infinite; inf where none does (float64). Found once per dtype by bisection over
    the positive float64s, which their bit patterns order, with torch's own conversion:
    it rounds to float16 and bfloat16 through float32, so 65519.99999999999 is already
    inf in float16, below max + ulp/2 = 65520."""
    def overflows(bits: int) -> bool:
        value = torch.tensor(bits, dtype=torch.int64).view(F64)
        return bool(value.to(dtype).isinf())

    def bits_of(x: float) -> int:
        return int(torch.tensor(x, dtype=F64).view(torch.int64))

    low, high = bits_of(torch.finfo(dtype).max), bits_of(torch.finfo(F64).max)
    if not overflows(high):
        return math.inf
    while high - low > 1:  # overflows(high), not overflows(low)
        middle = (low + high) // 2
        low, high = (low, middle) if overflows(middle) else (middle, high)
    return float(torch.tensor(high, dtype=torch.int64).view(F64))


def shape_text(shape: tuple[int, ...]) -> str:
    """(16, 1024) → "16x1024"; () → "scalar"."""
    return "x".join(str(s) for s in shape) if shape else "scalar"


def parse_shape(text: str, name: str = "shape") -> tuple[int, ...]:
    """"64x1024" → (64, 1024); "scalar" → (); a clear error naming ``name`` otherwise."""
    text = text.strip()
    if text == "scalar":
        return ()
    parts = text.split("x")
    if not all(p.isdigit() for p in parts):
        raise GradlabError(f"{name} must be sizes joined by 'x' such as 64x1024, or 'scalar' "
                           f"(got {text!r})", name)
    shape = tuple(int(p) for p in parts)
    check_shape(name, shape)
    return shape


def check_shape(name: str, shape) -> None:
    if not isinstance(shape, tuple) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in shape):
        raise GradlabError(f"{name} must be a tuple of positive ints or a tensor "
                           f"(got {shape!r})", name)
    if any(s < 1 for s in shape):
        raise GradlabError(f"{name} must have every size ≥ 1 (got {shape})", name)


def check_dtypes(dtypes) -> tuple[str, ...]:
    """A tuple of dtype names, each known, in the given order, duplicates dropped."""
    if isinstance(dtypes, str):
        dtypes = (dtypes,)
    if not isinstance(dtypes, Iterable):
        raise GradlabError(f"dtypes must be a tuple of {', '.join(DTYPE_NAMES)} "
                           f"(got {dtypes!r})", "dtypes")
    names = tuple(dict.fromkeys(dtypes))
    if not names:
        raise GradlabError(f"dtypes must name at least one of {', '.join(DTYPE_NAMES)}", "dtypes")
    for name in names:
        dtype_info(name)
    return names


def check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise GradlabError(f"seed must be an integer in [0, 2³²) (got {seed!r})", "seed")


def estimate_bytes(inputs: Mapping) -> dict[str, int]:
    """Each input's share of verify's peak memory: BYTES_PER_ENTRY per floating entry,
    the tensor's own size for an integer or bool one."""
    need = {}
    for name, value in inputs.items():
        if isinstance(value, torch.Tensor):
            entries = value.numel()
            per = BYTES_PER_ENTRY if value.is_floating_point() else value.element_size()
        else:
            entries, per = math.prod(value), BYTES_PER_ENTRY
        need[name] = entries * per
    return need


def check_memory(need: Mapping[str, int], limits: Limits, what: str = "inputs") -> None:
    """Refuse, before allocating, what would exceed ``limits.case_bytes``."""
    total = sum(need.values())
    if total > limits.case_bytes:
        largest = max(need, key=need.get)
        raise GradlabError(
            f"{what} need about {mib(total)} ({largest}: {mib(need[largest])}), over the "
            f"memory budget of {mib(limits.case_bytes)} (GRADLAB_CASE_BUDGET_MIB)", what)


def mib(size: int) -> str:
    """Bytes in MiB: whole from 10 MiB, three significant digits below."""
    return f"{size / MiB:,.0f} MiB" if size >= 10 * MiB else f"{size / MiB:.3g} MiB"


def check_inputs(inputs) -> None:
    if not isinstance(inputs, Mapping) or not inputs:
        raise GradlabError("inputs must be a non-empty dict of name → shape tuple or tensor "
                           f"(got {type(inputs).__name__})", "inputs")
    for name, value in inputs.items():
        if not isinstance(name, str) or not name:
            raise GradlabError(f"inputs: every name must be a non-empty string (got "
                               f"{name!r})", "inputs")
        label = f"inputs[{name!r}]"
        if isinstance(value, torch.Tensor):
            if value.is_complex():
                raise GradlabError(f"{label} is {value.dtype}; verify takes real floating, "
                                   "integer or bool tensors", label)
        else:
            check_shape(label, value)
    if not any(not isinstance(v, torch.Tensor) or v.is_floating_point()
               for v in inputs.values()):
        raise GradlabError("inputs: none is floating, so there is nothing to differentiate",
                           "inputs")


def draw_inputs(inputs: Mapping, generator: torch.Generator) -> list[Input]:
    """Each input's float64 values (shapes drawn from ``generator`` in order) or its
    fixed integer tensor, on the CPU."""
    out = []
    for name, value in inputs.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.is_floating_point():
                # A float64 tensor is kept as it is: verify only reads it (``peak``, and
                # ``at``, which rounds into a fresh tensor), so a copy would only cost a
                # pass over it (7.6 ms for the seed problem's W at width 4096).
                given = Input(name, tuple(value.shape), value.to(F64), None, False)
                if not math.isfinite(given.peak):
                    raise GradlabError(f"inputs[{name!r}] has non-finite entries; the truth "
                                       "needs finite inputs")
                out.append(given)
            else:
                out.append(Input(name, tuple(value.shape), None, value.clone(), False))
        else:
            out.append(Input(name, value, torch.randn(value, generator=generator, dtype=F64),
                             None, True))
    return out


def integers(shape: tuple[int, ...], high: int, seed: int) -> torch.Tensor:
    """int64 entries uniform in [0, high) (class indices), from ``side_generator(seed)``."""
    check_shape("shape", shape)
    if isinstance(high, bool) or not isinstance(high, int) or high < 1:
        raise GradlabError(f"the integers' upper bound must be an integer ≥ 1 (got {high!r})")
    return torch.randint(0, high, shape, generator=side_generator(seed))


def side_generator(seed: int) -> torch.Generator:
    """A generator for draws beside verify's own (class indices, a problem's scaled
    weight): seeded seed + 2³², so it never repeats verify's stream of a seed < 2³²."""
    return torch.Generator().manual_seed(seed + SEED_LIMIT)
