# Sourced by run.sh and test.sh: the Python they install into and run with.
# GRADLAB_PYTHON names it (say .venv/bin/python); else the `python` on PATH (an
# activated virtual environment's, if any), else `python3`. See docs/install.md.
PYTHON="${GRADLAB_PYTHON:-$(command -v python || command -v python3 || echo python)}"
if ! command -v "$PYTHON" >/dev/null; then
  echo "gradlab: $PYTHON is not a Python on this machine: set GRADLAB_PYTHON to one" >&2
  exit 2
fi
"$PYTHON" -c 'import sys
venv = sys.prefix != sys.base_prefix
print(f"gradlab: installing into and running {sys.executable}"
      + (" (a virtual environment)" if venv else
         " (not a virtual environment; see docs/install.md for one)"), file=sys.stderr)'
