"""One case: the sizes, dtype and ε of a single gradient check, validated."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

from gradlab.dtypes import dtype_info
from gradlab.errors import GradlabError

PLACEMENTS = ("inside", "outside")
PRESETS = ("notebook",)
MiB = 2**20


@dataclass(frozen=True)
class Limits:
    """Resource guards, the same for the CLI, sweeps and a hosted dashboard.

    - ``kron_bytes`` caps the seed's J = kron(I_m, xᵀ);
    - ``case_bytes`` caps everything else one check allocates (inputs,
      gradients, the reference), so m = n = 10⁶ is refused, not a crash;
    - ``max_points`` caps the points of one sweep;
    - ``upload_bytes`` caps one uploaded CSV.

    ``Limits.from_env()`` reads GRADLAB_KRON_BUDGET_MIB, GRADLAB_CASE_BUDGET_MIB,
    GRADLAB_MAX_POINTS and GRADLAB_MAX_UPLOAD_MIB, for a hosted copy.
    """

    kron_bytes: int = 256 * MiB
    case_bytes: int = 4096 * MiB
    max_points: int = 5000
    upload_bytes: int = 50 * MiB

    def __post_init__(self):
        for name in ENV_NAMES:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise GradlabError(f"{name} must be a positive integer (got {value!r})")

    @classmethod
    def from_env(cls, environ=None) -> Limits:
        environ = os.environ if environ is None else environ
        values = {}
        for field_name, (var, unit) in ENV_NAMES.items():
            text = environ.get(var)
            if text is None or text == "":
                continue
            try:
                number = float(text)
            except ValueError:
                raise GradlabError(f"{var} must be a number (got {text!r})") from None
            if not math.isfinite(number) or number <= 0:
                raise GradlabError(f"{var} must be > 0 (got {text!r})")
            values[field_name] = max(1, int(number * unit))
        return cls(**values)


#: Limits field → (environment variable, unit of the variable's value).
ENV_NAMES = {
    "kron_bytes": ("GRADLAB_KRON_BUDGET_MIB", MiB),
    "case_bytes": ("GRADLAB_CASE_BUDGET_MIB", MiB),
    "max_points": ("GRADLAB_MAX_POINTS", 1),
    "upload_bytes": ("GRADLAB_MAX_UPLOAD_MIB", MiB),
}


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GradlabError(f"{name} must be an integer ≥ 1 (got {value!r})")
    if value < 1:
        raise GradlabError(f"{name} must be ≥ 1 (got {value})")


def _finite_float(name: str, value, minimum: float | None = None, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GradlabError(f"{name} must be a number (got {value!r})")
    if math.isnan(value) or math.isinf(value):
        raise GradlabError(f"{name} must be finite (got {value})")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        sign = ">" if strict else "≥"
        raise GradlabError(f"{name} must be {sign} {minimum:g} (got {value:g})")


@dataclass(frozen=True)
class Case:
    """A layer of ``m`` outputs and ``n`` inputs, ``batch`` tokens, one dtype.

    ``eps_placement``: ``inside`` is u = sqrt(mean(a²) + ε) (torch.nn.RMSNorm,
    LLaMA); ``outside`` is u = sqrt(mean(a²)) + ε (the RMSNorm paper).
    ``scale`` multiplies W, to reach the tiny-activation regime where ε
    matters. ``preset="notebook"`` reproduces the seed's own draws.
    """

    m: int
    n: int
    batch: int = 1
    dtype: str = "float32"
    eps: float = 0.0
    eps_placement: str = "inside"
    scale: float = 1.0
    seed: int = 0
    preset: str | None = None

    def __post_init__(self):
        _positive_int("m", self.m)
        _positive_int("n", self.n)
        _positive_int("batch", self.batch)
        dtype_info(self.dtype)
        _finite_float("eps", self.eps, minimum=0.0)
        if self.eps_placement not in PLACEMENTS:
            raise GradlabError(
                f"eps_placement must be one of {', '.join(PLACEMENTS)} "
                f"(got {self.eps_placement!r})"
            )
        _finite_float("scale", self.scale, minimum=0.0, strict=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GradlabError(f"seed must be an integer ≥ 0 (got {self.seed!r})")
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise GradlabError(
                    f"preset must be one of {', '.join(PRESETS)} (got {self.preset!r})"
                )
            if (self.m, self.n, self.batch, self.scale, self.seed) != (2, 3, 1, 1.0, 0):
                raise GradlabError(
                    "preset 'notebook' fixes m=2, n=3, batch=1, scale=1, seed=0 "
                    f"(got m={self.m}, n={self.n}, batch={self.batch}, "
                    f"scale={self.scale:g}, seed={self.seed})"
                )

    @classmethod
    def notebook(cls, dtype: str = "float32", eps: float = 0.0,
                 eps_placement: str = "inside") -> Case:
        """The seed notebook: torch.manual_seed(0), float32 draws of W, x, g, b."""
        return cls(m=2, n=3, dtype=dtype, eps=eps, eps_placement=eps_placement,
                   preset="notebook")

    @property
    def u(self) -> float:
        return dtype_info(self.dtype).u

    def kron_bytes(self) -> int:
        """Bytes of J = kron(I_m, xᵀ): m × (m·n) entries in the case dtype."""
        return self.m * self.m * self.n * dtype_info(self.dtype).bits // 8

    def case_bytes(self) -> int:
        """A generous estimate of a check's peak memory, kron aside.

        Per entry of W (m·n), X (batch·n) and a (batch·m): the inputs and four
        methods' gradients in the case dtype, float64 copies, and the
        reference in numpy longdouble (16 bytes) for float64 cases.
        """
        entries = self.m * self.n + self.batch * self.n + self.batch * self.m
        per_entry = 6 * dtype_info(self.dtype).bits // 8 + 6 * 8 + 4 * 16
        return entries * per_entry

    def check_limits(self, limits: Limits) -> None:
        need = self.case_bytes()
        if need > limits.case_bytes:
            raise GradlabError(
                f"m={self.m}, n={self.n}, batch={self.batch} needs about "
                f"{need / MiB:,.0f} MiB, over the memory budget of "
                f"{limits.case_bytes / MiB:,.0f} MiB"
            )

    def to_row(self) -> dict:
        """The case's CSV columns."""
        row = asdict(self)
        row["preset"] = self.preset or ""
        return row
