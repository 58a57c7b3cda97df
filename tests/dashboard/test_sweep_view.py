"""The Sweep page's pure part (dashboard/sweep.py)."""

from __future__ import annotations

from dashboard.sweep import csv_name
from gradlab.sweep.grid import Sweep


def test_the_csv_is_named_after_its_sweep():
    """Two sweeps download as two files, each named for its sizes, dtypes and points
    (issue 20: every CSV was gradlab-sweep.csv)."""
    default = Sweep.default()
    assert csv_name(default) == ("gradlab-sweep-mn2-4096-float64-float32-bfloat16-float16-"
                                 f"{default.points}pts.csv")
    grid = Sweep(m=(2, 8), n=(3, 5), dims=(), dtypes=("float16",))
    assert csv_name(grid) == f"gradlab-sweep-m2-8-n3-5-float16-{grid.points}pts.csv"
