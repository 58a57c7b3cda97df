"""The columns of a sweep: one row per point, in this order.

``COLUMNS`` maps each column name to ``(kind, unit, meaning)``, where kind is
``int``, ``float`` or ``str``. docs/csv.md's column table is this dict; the
tests check that a sweep's frame has exactly these columns, in this order.
A row is ``Check.to_row()`` (the case, the context, then each method), then
``error`` (why a point could not run at all), then the provenance columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradlab.core.provenance import PROVENANCE_COLUMNS, Column
from gradlab.problems.seed.case import EARLIER_DRAWS
from gradlab.problems.seed.gradients import METHODS

if TYPE_CHECKING:  # pandas is imported where a frame is built: a Dask worker needs none
    import pandas as pd

__all__ = [
    "BACKFILL", "CASE_COLUMNS", "COLUMNS", "kind", "markdown_table", "MISSING", "PANDAS_DTYPES",
    "to_frame", "typed", "VOLATILE"
]

#: kind → the pandas dtype of a column of that kind.
PANDAS_DTYPES = {"int": "int64", "float": "float64", "str": "str"}

_CASE: dict[str, Column] = {
    "m": ("int", "count", "outputs: the rows of W and the length of a = W x"),
    "n": ("int", "count", "inputs: the columns of W, the reduction length of a = W x"),
    "batch": ("int", "tokens", "tokens (rows of X); L sums over them"),
    "dtype": ("str", "—", "the dtype every method computes in: float64, float32, bfloat16, "
                          "float16"),
    "eps": ("float", "a² (inside), a (outside)",
            "the norm's ε as requested; its value rounded to the dtype is what runs (see notes)"),
    "eps_placement": ("str", "—", "inside: u = sqrt(mean(a²) + ε); outside: u = sqrt(mean(a²)) "
                                  "+ ε"),
    "scale": ("float", "×", "multiplies W (W ~ scale·N(0, 1)/√n)"),
    "seed": ("int", "—", "seed of the float64 draws of W, X, g, b"),
    "preset": ("str", "—", "empty, or notebook (the seed's own draws)"),
    "draws": ("str", "—", "how W, X, g, b were drawn from the seed: gradlab-ziggurat (numpy's "
                          "SFC64 stream and gradlab's block ziggurat, core.normals), notebook "
                          "(the preset's own), numpy-sfc64 (the same stream and numpy's own "
                          "ziggurat: files from before gradlab-ziggurat), or torch-randn "
                          "(torch's seeded float64 randn: a file written before this column, "
                          "which reads as that)"),
    "variant": ("str", "—", "none (the correct derivation) or the bug-zoo mistake the analytic "
                            "methods make: no-projection, eps-missing, wrong-mean, transposed"),
}

_CONTEXT: dict[str, Column] = {
    "ref_max_abs": ("float", "dL/dW", "max |dL/dW| of the reference: the scale that relative "
                                         "errors divide by"),
    "ref_fro": ("float", "dL/dW", "‖dL/dW‖_F of the reference: the scale that normwise errors "
                                  "divide by"),
    "kappa": ("float", "ratio ≥ 1", "κ, the cancellation condition in the max-norm: the size of "
                                    "the terms that cancel into dL/dW (first-order error "
                                    "propagation) over max |dL/dW| (inf when dL/dW = 0)"),
    "kappa_fro": ("float", "ratio ≥ 1", "κ in the Frobenius norm: ‖terms‖_F / ‖dL/dW‖_F"),
    "kappa_tokens": ("float", "ratio ≥ 1", "K, how much the tokens' terms row_t x_tᵀ cancel in "
                                           "their sum dL/dW, max-norm: Σ_t max|row_t|·max|x_t| "
                                           "over max |dL/dW| (1 for one token); structured's κ "
                                           "adds L·(K − 1) (check.method_kappa); NaN in a file "
                                           "written before this column"),
    "kappa_tokens_fro": ("float", "ratio ≥ 1", "K in the Frobenius norm: "
                                               "‖Σ_t |row_t| |x_t|ᵀ‖_F / ‖dL/dW‖_F"),
    "bound_sqrt_n": ("float", "relative", "√n·u, the probabilistic bound of a length-n dot "
                                          "product"),
    "bound_n": ("float", "relative", "n·u, the worst-case bound of a length-n dot product"),
    "bug_effect": ("float", "relative", "how far the variant's exact gradient is from the correct "
                                        "one, max-norm ÷ max |ref| (NaN for variant none)"),
    "bug_effect_fro": ("float", "relative", "the same normwise: ‖variant − correct‖_F ÷ ‖ref‖_F"),
    "reference_precision": ("str", "—", "float64; for float64 cases longdouble where it is "
                            "wider than float64 (x87 80-bit on x86 Linux), else double-double"),
}


def _method_columns(name: str) -> dict[str, Column]:
    cols: dict[str, Column] = {
        f"{name}_ran_dtype": ("str", "—", f"the dtype {name}'s gradients came out in (empty if "
                                          "it did not run)"),
    }
    if name != "autograd":
        cols[f"{name}_max_abs_diff"] = (
            "float", "dL/dW", f"the seed's Δ: max |dL/dW by {name} − dL/dW by autograd|, "
                                 "taken in float64")
    cols.update({
        f"{name}_abs_err": ("float", "dL/dW", f"max |dL/dW by {name} − reference|"),
        f"{name}_rel_err": ("float", "relative", f"{name}_abs_err ÷ ref_max_abs"),
        f"{name}_err_u": ("float", "u", f"{name}_rel_err in units of u of the dtype"),
        f"{name}_fro_err": ("float", "relative", f"‖dL/dW by {name} − reference‖_F ÷ ref_fro "
                                                 "(normwise)"),
        f"{name}_fro_u": ("float", "u", f"{name}_fro_err in units of u of the dtype"),
        f"{name}_nonfinite": ("int", "count", "NaN or ±inf entries of dL/dW (-1: did not run)"),
        f"{name}_seconds": ("float", "s", f"wall time of {name} alone (NaN: did not run)"),
        f"{name}_residual": ("float", "relative", "⟨dL/dW, W⟩/(‖dL/dW‖ ‖W‖), 0 up to rounding "
                                                  "when ε = 0 (NaN when ε > 0)"),
    })
    if name != "autograd":
        cols.update({
            f"{name}_status": ("str", "—", "pass, fail (a bug), too-coarse (a known bug below "
                                           "what the check resolves), degenerate (no rounding "
                                           "yardstick), skipped (kron over its budget: "
                                           "the verdict says why) or not-asked (left out "
                                           "of the methods)"),
            f"{name}_threshold": ("float", "relative", "the verdict's max-norm threshold on "
                                                       "rel_err: 2·autograd's + c_max·κ·u "
                                                       "(core/verdict.py; NaN: degenerate or "
                                                       "skipped)"),
            f"{name}_threshold_fro": ("float", "relative", "the normwise threshold on fro_err: "
                                                           "2·autograd's + c_fro·κ_fro·u"),
            f"{name}_sensitivity": ("float", "relative", "the smallest further bug the verdict "
                                                         "would have caught, normwise: "
                                                         "threshold_fro + fro_err"),
            f"{name}_sensitivity_max": ("float", "relative", "the same in one entry (max-norm): "
                                                             "threshold + rel_err"),
            f"{name}_verdict": ("str", "—", "the verdict with its evidence, or why it was "
                                            "skipped (kron over its memory budget)"),
        })
    return cols


_TAIL: dict[str, Column] = {
    "u_underflow": ("int", "tokens", "tokens whose u underflows to 0 in the dtype"),
    "notes": ("str", "—", "what the dtype did to this case: ε rounded to 0, u underflowed, "
                          "non-finite gradients (joined by '; ')"),
    "error": ("str", "—", "empty, or why this point could not run at all (its numbers are "
                          "NaN then); the sweep goes on"),
}

#: The columns that say which point a row is (the case and the variant): two rows
#: with the same values here are the same computation.
CASE_COLUMNS: tuple[str, ...] = tuple(_CASE)

#: The columns that differ between two runs of one sweep, whatever the executor:
#: the wall times and the provenance. Every other column is the same, bit for bit.
VOLATILE = (*(f"{m}_seconds" for m in METHODS), *PROVENANCE_COLUMNS)

#: Every column: name → (kind, unit, meaning), in the order of a sweep's frame.
COLUMNS: dict[str, Column] = {
    **_CASE,
    **_CONTEXT,
    **{k: v for name in METHODS for k, v in _method_columns(name).items()},
    **_TAIL,
    **PROVENANCE_COLUMNS,
}

#: Columns that a CSV written by an earlier gradlab lacks, and what they were there: a
#: file without ``draws`` was drawn with torch's generator; one without the tokens'
#: condition K did not record it (NaN). Reading it fills them in.
BACKFILL: dict[str, str | float] = {"draws": EARLIER_DRAWS, "kappa_tokens": float("nan"),
                                    "kappa_tokens_fro": float("nan")}

#: The columns of a point that did not run, other than its case, variant and error.
MISSING = {"int": -1, "float": float("nan"), "str": ""}


def kind(name: str) -> str:
    return COLUMNS[name][0]


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each schema column cast to its kind's pandas dtype."""
    return frame.astype({c: PANDAS_DTYPES[COLUMNS[c][0]] for c in frame.columns
                         if c in COLUMNS})


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows (dicts with every column) → a typed frame in COLUMNS order."""
    import pandas as pd

    return typed(pd.DataFrame(rows, columns=list(COLUMNS)))


def markdown_table() -> str:
    """The column table of docs/csv.md."""
    lines = ["| column | kind | unit | meaning |", "|---|---|---|---|"]
    for name, (k, unit, meaning) in COLUMNS.items():
        cells = [f"`{name}`", k, unit, meaning]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
