"""Shared helpers for the core tests: a memo of whole checks, and readable ids.

Several test files look at the same (case, methods, variant) check from
different angles (the verdict, the error envelope, the dtype it ran in); the
``checked`` fixture runs each one once per session.
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import settings

from gradlab.core.dtypes import DTYPE_NAMES
from gradlab.problems.seed.case import PLACEMENTS, Case
from gradlab.problems.seed.check import Check, run_check

#: No hypothesis deadlines: a test is never timed (the machine is shared and noisy;
#: performance lives in bench/).
settings.register_profile("gradlab", deadline=None)
settings.load_profile("gradlab")

SIZES = (2, 3, 16, 128, 512)
#: kron forms J (m²n entries); past this m the envelope/verdict grids leave it out
#: to keep the suite fast (its budget is tested on its own).
KRON_MAX_M = 128


def methods_for(m: int) -> tuple[str, ...]:
    return ("autograd", "structured", "kron") if m <= KRON_MAX_M else ("autograd", "structured")


@functools.cache
def _check(case: Case, methods: tuple[str, ...], variant: str | None) -> Check:
    return run_check(case, methods=methods, variant=variant)


def checked_case(case: Case, variant: str | None = None,
                 methods: tuple[str, ...] | None = None) -> Check:
    """run_check(case, …), memoised for the session (Case is frozen and hashable)."""
    return _check(case, methods if methods is not None else methods_for(case.m), variant)


@pytest.fixture(scope="session")
def checked():
    return checked_case


def eps_id(eps: float) -> str:
    return "eps0" if eps == 0 else f"eps{eps:g}"


def case_id(case: Case) -> str:
    return (f"{case.dtype}-m{case.m}n{case.n}b{case.batch}-{eps_id(case.eps)}-"
            f"{case.eps_placement}-s{case.scale:g}-seed{case.seed}")


def grid(dtypes=DTYPE_NAMES, sizes=SIZES, eps=(0.0, 1e-5), placements=PLACEMENTS):
    """dtype × size × ε × placement as pytest params with readable ids."""
    return [pytest.param(d, s, e, p, id=f"{d}-m{s}-{eps_id(e)}-{p}")
            for d in dtypes for s in sizes for e in eps for p in placements]


def run_cli(argv, capsys) -> tuple[int, str, str]:
    """gradlab's main(argv) → (exit status, stdout, stderr); argparse's exits are caught."""
    from gradlab.cli.main import main

    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
