#!/usr/bin/env bash
# Install the runtime and start the dashboard; Streamlit prints the local URL.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements.txt -e . 2>&1 | grep -v -i "is ignored" || true
exec python -m streamlit run app.py "$@"
