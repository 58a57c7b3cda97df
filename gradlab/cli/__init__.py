"""The command line: ``python -m gradlab check | sweep``."""

from gradlab.cli.main import main

__all__ = ["main"]
