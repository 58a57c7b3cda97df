"""Streamlit's own render of the Precision page's first draw, for bench_dashboard.py:
the same title, text and charts (with their captions and downloads) from rows already
computed (a pickled frame named by GRADLAB_BENCH_FRAME), so that the page's first
chart can be timed as a ratio to what drawing those elements alone costs.

    GRADLAB_BENCH_FRAME=rows.pkl streamlit run bench/render_precision.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dashboard import ui  # noqa: E402
from dashboard.precision import PANEL_PX, PrecisionView  # noqa: E402
from gradlab.charts import sweep as charts  # noqa: E402

view = PrecisionView()
frame = pd.read_pickle(os.environ["GRADLAB_BENCH_FRAME"])
st.title("Precision")
st.markdown("How large is rounding? (the same elements as the page's first draw, from "
            "rows computed beforehand)")
st.caption("Drawn so far: m = n up to 64.")
st.subheader("Each method's error, per dtype")
ui.chart(charts.error_chart(frame, view.methods, view.agg, view.units, width=PANEL_PX,
                            height=PANEL_PX), "One panel per dtype, one line per method.")
st.info("bfloat16 and float16 measure storage more than arithmetic here.")
st.subheader("float64 against extended precision")
ui.chart(charts.float64_chart(frame, view.methods, view.agg), "float64's own rounding.")
