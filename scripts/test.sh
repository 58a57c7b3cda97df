#!/usr/bin/env bash
# Install everything the tests need, then run them all (browser tests included).
# Works on a fresh machine of the project's kind: Python 3.11, pip, Debian.
# The Python: GRADLAB_PYTHON, else `python` on PATH (scripts/python.sh). The tests
# import gradlab from this checkout (pyproject's pythonpath), so it is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh

"$PYTHON" -m pip install -q -r requirements-dev.txt

# The browser tests drive Debian's Chromium (never 'playwright install': no network).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else
    echo "Chromium is missing: run 'sudo apt-get install -y chromium' (browser tests need it)" >&2
    exit 1
  fi
fi

"$PYTHON" -m ruff check .
"$PYTHON" -m pytest "$@"
