"""The Streamlit dashboard: ui.py (the one Streamlit helper module), page configs
and views/ (one thin script per page). app.py at the repository root runs it."""
