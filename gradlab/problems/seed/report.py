"""A check as JSON (full round-trip precision) and as a plain-text table."""

from __future__ import annotations

import numpy as np
import torch

from gradlab.core.numbers import json_number
from gradlab.core.provenance import provenance
from gradlab.core.verdict import verdict_dict
from gradlab.problems.seed.check import TOKEN_ROUNDINGS, Check
from gradlab.problems.seed.gradients import PARAMS
from gradlab.problems.seed.reference import describe_precision

__all__ = ["to_json_dict", "to_table"]


def _plain(value):
    """Tensors and arrays to nested lists of Python floats (repr round-trips)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().to(torch.float64).cpu().numpy()
    if isinstance(value, np.ndarray):
        value = value.astype(np.float64).tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return json_number(value)


def to_json_dict(check: Check) -> dict:
    errors = {name: {p: vars(e) for p, e in per.items()} for name, per in check.errors.items()}
    grads = {name: dict(run.grads) for name, run in check.runs.items()}
    grads["reference"] = {p: check.reference.to_float64(p) for p in PARAMS}
    sqrt_n_u, n_u = check.bounds
    return _plain({
        "provenance": provenance(),
        "case": check.case.to_row(),
        "variant": check.variant or "",
        "inputs": {"W": check.inputs.W, "x": check.inputs.X, "g": check.inputs.g,
                   "b": check.inputs.b, "eps": float(check.inputs.eps)},
        "grads": grads,
        "dtypes": {name: run.dtype for name, run in check.runs.items()},
        "seconds": {name: run.seconds for name, run in check.runs.items()},
        "reference_precision": check.reference.precision,
        "metrics": {
            "max_abs_diff": check.max_abs_diff,
            "errors": errors,
            "ref_max_abs": check.ref_max_abs,
            "kappa": check.kappa,
            "kappa_fro": check.kappa_fro,
            "kappa_tokens": check.kappa_tokens,
            "kappa_tokens_fro": check.kappa_tokens_fro,
            "ref_fro": check.reference.fro("W"),
            "bound_sqrt_n": sqrt_n_u,
            "bound_n": n_u,
            "scale_residual": check.residual,
            "bug_effect": check.bug_effect,
            "verdict": {name: verdict_dict(v) for name, v in check.verdicts.items()},
        },
        "skipped": check.skipped,
        "notes": check.notes,
    })


def _g(x) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _matrix(t: torch.Tensor) -> str:
    rows = t.detach().to(torch.float64).tolist()
    return "\n".join("  [" + ", ".join(f"{v: .9f}" for v in row) + "]" for row in rows)


def to_table(check: Check) -> str:
    c = check.case
    title = (f"gradlab check · m={c.m} n={c.n} batch={c.batch} · {c.dtype} · "
             f"ε={c.eps:g} ({c.eps_placement}) · scale={c.scale:g} · seed={c.seed}")
    if c.preset:
        title += f" · preset {c.preset}"
    if check.variant:
        title += f" · variant {check.variant}"
    p = provenance()
    lines = [title, f"torch {p['torch_version']} · {p['device']} · {p['threads']} threads · "
             f"reference in {describe_precision(check.reference.precision)}", ""]
    header = ["method", "ran in", "max|Δ| vs autograd", "abs err", "rel err", "err/u",
              "normwise/u", "non-finite", "seconds", "verdict"]
    body = []
    for name, run in check.runs.items():
        e = check.errors[name]["W"]
        v = check.verdicts.get(name)
        body.append([name, run.dtype, _g(check.max_abs_diff.get(name)), _g(e.abs_err),
                     _g(e.rel_err), _g(e.err_u), _g(e.fro_u), str(e.nonfinite),
                     f"{run.seconds:.2g}",
                     v.status if v else "yardstick"])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    for row in [header, *body]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    lines.append("")
    sqrt_n_u, n_u = check.bounds
    lines.append(f"errors are of dL/dW against the reference; max|ref| = {check.ref_max_abs:.6g}, "
                 f"κ = {check.kappa:.3g} (normwise {check.kappa_fro:.3g}), "
                 f"√n·u = {sqrt_n_u:.3g}, n·u = {n_u:.3g}")
    if c.batch > 1 and "structured" in check.verdicts:
        lines.append(f"the tokens' terms cancel by K = {check.kappa_tokens:.3g} (normwise "
                     f"{check.kappa_tokens_fro:.3g}): structured's κ adds "
                     f"{TOKEN_ROUNDINGS:g}·(K − 1) for its per-token roundings")
    if c.eps == 0:
        res = ", ".join(f"{k} {v:.2g}" for k, v in check.residual.items())
        lines.append(f"scale invariance ⟨dL/dW, W⟩/(‖dL/dW‖‖W‖), 0 up to rounding: {res}")
    for name, v in check.verdicts.items():
        lines.append(f"verdict {name}: {v.message}")
    for name, why in check.skipped.items():
        lines.append(f"skipped {name}: {why}")
    for note in check.notes:
        lines.append(f"note: {note}")
    if c.m * c.n <= 64:
        for name, run in check.runs.items():
            lines += ["", f"dL/dW by {name}:", _matrix(run.grads["W"])]
    return "\n".join(lines)
