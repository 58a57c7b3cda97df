"""The public ``gradlab.verify``: verification's run, wired to the layer above it that
draws and exports (``Report.chart`` builds with ``gradlab.charts.verify.verify_chart``,
``Report.save_chart`` writes with ``gradlab.charts.export.chart_bytes``).

``gradlab/__init__.py`` loads it on first use, so ``import gradlab`` stays light.
"""

from __future__ import annotations

import functools

from gradlab.charts.export import chart_bytes
from gradlab.charts.verify import verify_chart
from gradlab.verification import run
from gradlab.verification.report import Report

__all__ = ["verify"]


@functools.wraps(run.verify)
def verify(*args, **kwargs) -> Report:
    return run.verify(*args, **kwargs).with_charts(verify_chart, chart_bytes)
