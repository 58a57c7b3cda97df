"""bench/corner_floor.py's least L and bench/token_power.py's A/B: the L that
corner_floor prints covers twice every excess and is the least that does, and
token_power puts the table's L back whatever happens."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.corner_floor import Judged, least_l
from bench.token_power import judged
from gradlab.core.dtypes import DTYPES
from gradlab.problems.seed import check as seed_check
from gradlab.problems.seed.case import Case


def row(excess: float, kappa: float, k_row: float) -> Judged:
    return Judged(excess / kappa, 0.0, "pass", "inside", 1.0, 1.0, 0, kappa, excess, k_row)


rows = st.lists(st.builds(row, st.floats(-10, 500), st.floats(1, 1e3), st.floats(1, 1e3)),
                min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(rows, st.sampled_from(list(DTYPES)))
def test_the_least_l_covers_twice_every_excess_and_no_less_does(judged_rows, dtype):
    info = DTYPES[dtype]
    c, b = info.floor("max"), info.bound("max")
    least = least_l(judged_rows, dtype)

    def covered(value: float) -> bool:
        return all(c + b * (r.kappa + value * (r.k_row - 1)) >= 2 * r.excess * (1 - 1e-9) - 1e-9
                   for r in judged_rows)

    if math.isinf(least):  # a row that no L reaches (K ≤ 1) is not covered
        assert any(r.k_row <= 1 and c + b * r.kappa < 2 * r.excess for r in judged_rows)
        return
    assert least >= 0 and covered(least)
    if least > 0:
        assert not covered(least * 0.99 - 1e-9)


def test_token_power_restores_the_tables_l_even_when_a_check_raises(monkeypatch):
    kept = seed_check.TOKEN_ROUNDINGS
    one = judged([(Case(2, 2, 3), None)], 0.0)
    assert kept == seed_check.TOKEN_ROUNDINGS
    assert [status for status, *_ in one.values()] == ["pass"]

    def boom(*args, **kwargs):
        assert seed_check.TOKEN_ROUNDINGS == 0.0  # noqa: SIM300 - the L being run
        raise RuntimeError("boom")

    monkeypatch.setattr(seed_check, "run_check", boom)
    with pytest.raises(RuntimeError, match="boom"):
        judged([(Case(2, 2), None)], 0.0)
    assert kept == seed_check.TOKEN_ROUNDINGS
