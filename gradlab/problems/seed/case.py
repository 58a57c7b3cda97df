"""One case: the sizes, dtype and ε of a single gradient check, validated."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from gradlab.core.dtypes import dtype_info
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.core.validate import finite_float, positive_int

__all__ = ["Case", "DRAWS", "EARLIER_DRAWS", "NOTEBOOK_DRAWS", "NUMPY_DRAWS", "PLACEMENTS",
           "PRESETS"]

PLACEMENTS = ("inside", "outside")
PRESETS = ("notebook",)

#: How ``inputs.draw`` draws a case's inputs from its seed, as a row's ``draws`` column
#: names it: numpy's SFC64 bit stream seeded with the seed, and gradlab's ziggurat
#: normals in float64 (``core.normals``), a block of entries at a time.
DRAWS = "gradlab-ziggurat"
#: How gradlab drew them before ``DRAWS``: the same stream, and numpy's own ziggurat
#: normals, an entry at a time (``inputs.draw_numpy_sfc64``).
NUMPY_DRAWS = "numpy-sfc64"
#: How gradlab drew them before ``NUMPY_DRAWS`` (torch's seeded generator and its float64
#: ``randn``): a sweep CSV written before the ``draws`` column holds these.
EARLIER_DRAWS = "torch-randn"
#: The notebook preset's draws: torch.manual_seed(0), then float32 ``randn``.
NOTEBOOK_DRAWS = "notebook"


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
        positive_int("m", self.m)
        positive_int("n", self.n)
        positive_int("batch", self.batch)
        dtype_info(self.dtype)
        finite_float("eps", self.eps, minimum=0.0)
        if self.eps_placement not in PLACEMENTS:
            raise GradlabError(
                f"eps_placement must be one of {', '.join(PLACEMENTS)} "
                f"(got {self.eps_placement!r})", "eps_placement"
            )
        finite_float("scale", self.scale, minimum=0.0, strict=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise GradlabError(f"seed must be an integer ≥ 0 (got {self.seed!r})", "seed")
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise GradlabError(
                    f"preset must be one of {', '.join(PRESETS)} (got {self.preset!r})", "preset"
                )
            if (self.m, self.n, self.batch, self.scale, self.seed) != (2, 3, 1, 1.0, 0):
                raise GradlabError(
                    "preset 'notebook' fixes m=2, n=3, batch=1, scale=1, seed=0 "
                    f"(got m={self.m}, n={self.n}, batch={self.batch}, "
                    f"scale={self.scale:g}, seed={self.seed})", "preset"
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
        reference in 16 bytes (numpy longdouble, or a double-double's hi + lo) for
        float64 cases.
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

    @property
    def draws(self) -> str:
        """How the case's inputs are drawn from its seed: ``DRAWS``, or the notebook's."""
        return NOTEBOOK_DRAWS if self.preset == "notebook" else DRAWS

    def to_row(self) -> dict:
        """The case's CSV columns (its fields, then ``draws``)."""
        row = asdict(self)
        row["preset"] = self.preset or ""
        row["draws"] = self.draws
        return row
