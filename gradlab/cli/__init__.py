"""The command line: ``python -m gradlab check | sweep | verify | ops`` (main.py)."""

from gradlab.cli.main import main

__all__ = ["main"]
