"""The Streamlit dashboard: pages.py (the list of pages), ui.py (the one Streamlit helper
module), urlstate.py and formatting.py (shared by every page), and per page X two files,
views/X.py (its thin script) and X.py (its pure part). app.py at the repository root
runs it; ``python -m dashboard`` (__main__.py) starts it with preload.py's imports under
way."""
