"""gradlab's dashboard: ``streamlit run app.py``.

The pages are listed statically; each is a thin script in PAGES_DIR that
reads its widgets, builds a frozen config, calls a cached gradlab function
(through ui.py) and renders. A page whose file is missing is left out of the
navigation rather than breaking every page.
"""

from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
PAGES_DIR = ROOT / "dashboard" / "views"  # not pages/: see docs/dashboard.md ("Why views/")

#: (script, title, icon, URL path); the first is the home page.
PAGES = [
    ("explorer.py", "Explorer", ":material/biotech:", "explorer"),
    ("verify.py", "Verify", ":material/fact_check:", "verify"),
    ("sweep.py", "Sweep", ":material/show_chart:", "sweep"),
    ("precision.py", "Precision", ":material/target:", "precision"),
    ("epsilon.py", "Epsilon", ":material/science:", "epsilon"),
    ("compare.py", "Compare", ":material/compare_arrows:", "compare"),
]

st.set_page_config(page_title="gradlab: bug or rounding?", page_icon=":material/functions:",
                   layout="wide")

pages = [st.Page(PAGES_DIR / script, title=title, icon=icon, url_path=path, default=(i == 0))
         for i, (script, title, icon, path) in enumerate(PAGES) if (PAGES_DIR / script).exists()]
st.navigation(pages).run()
