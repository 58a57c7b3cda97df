"""gradlab: is that gradient mismatch a bug or rounding?

The pure package: it never imports Streamlit. See README.md.
``gradlab.verify`` and ``gradlab.Report`` (docs/verify.md) load on first use.
``gradlab.keep_freed_memory`` makes a process that runs many checks reuse its freed
memory (gradlab/core/memory.py; every gradlab command calls it).
"""

from gradlab._version import __version__
from gradlab.core.errors import GradlabError
from gradlab.core.memory import keep_freed_memory

__all__ = ["GradlabError", "Report", "__version__", "keep_freed_memory", "verify"]


def __getattr__(name: str):
    if name == "verify":
        from gradlab.public import verify

        return verify
    if name == "Report":
        from gradlab.verification.report import Report

        return Report
    raise AttributeError(f"module 'gradlab' has no attribute {name!r}")
