"""gradlab's dashboard: ``streamlit run app.py``.

The pages are listed as data in dashboard/pages.py (PAGES); each is a thin script in
PAGES_DIR that reads its widgets, builds a frozen config, calls a cached gradlab
function (through ui.py) and renders. A page whose file is missing is left out of the
navigation rather than breaking every page.
"""

import streamlit as st

from dashboard.pages import PAGES

st.set_page_config(page_title="gradlab: bug or rounding?", page_icon=":material/functions:",
                   layout="wide")

pages = [st.Page(page.path, title=page.title, icon=page.icon, url_path=page.url_path,
                 default=(i == 0))
         for i, page in enumerate(PAGES) if page.path.exists()]
st.navigation(pages).run()
