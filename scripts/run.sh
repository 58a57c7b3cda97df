#!/usr/bin/env bash
# Install the runtime and start the dashboard; Streamlit prints the local URL.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements.txt -e .
exec python -m streamlit run app.py "$@"
