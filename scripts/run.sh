#!/usr/bin/env bash
# Install the runtime (requirements.txt's pins, and gradlab itself, editable, with its
# dashboard extra) and start the dashboard; Streamlit prints the local URL.
# The Python: GRADLAB_PYTHON, else `python` on PATH (scripts/python.sh). On a laptop,
# install torch's CPU build first (docs/install.md): from PyPI, torch is the CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
"$PYTHON" -m pip install -q -r requirements.txt -e ".[dashboard]"
exec "$PYTHON" -m dashboard app.py "$@"
