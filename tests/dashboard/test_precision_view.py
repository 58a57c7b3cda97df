"""The Precision page's pure part (dashboard/precision.py)."""

from __future__ import annotations

import math

import pandas as pd

from dashboard.precision import error_notes
from gradlab.core.limits import MiB


def test_a_skipped_kron_is_said_to_exceed_its_budget():
    """kron is skipped where J would *exceed* the budget (issue 20: it said "pass")."""
    frame = pd.DataFrame({"m": [64, 4096], "kron_status": ["pass", "skipped"],
                          "kron_rel_err": [1e-7, math.nan]})
    notes = error_notes(frame, ("kron",), 256 * MiB)
    assert any("would exceed the kron budget of 256 MiB" in n for n in notes), notes
    assert not any("would pass" in n for n in notes)
