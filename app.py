"""gradlab's dashboard from a checkout: ``streamlit run app.py`` (scripts/run.sh).

The pages are listed as data in dashboard/pages.py (PAGES); each is a thin script in
dashboard/views/ that reads its widgets, builds a frozen config, calls a cached gradlab
function (through ui.py) and renders. From an installed package the same app starts
with ``gradlab dashboard`` (dashboard/serve/app.py).
"""

from dashboard.navigation import main

main()
