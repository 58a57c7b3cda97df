"""gradlab: is that gradient mismatch a bug or rounding?

The pure package: it never imports Streamlit. See README.md.
``gradlab.verify`` and ``gradlab.Report`` (docs/verify.md) load on first use.
"""

from gradlab._version import __version__
from gradlab.core.errors import GradlabError

__all__ = ["GradlabError", "Report", "__version__", "verify"]


def __getattr__(name: str):
    if name == "verify":
        from gradlab.public import verify

        return verify
    if name == "Report":
        from gradlab.verification.report import Report

        return Report
    raise AttributeError(f"module 'gradlab' has no attribute {name!r}")
