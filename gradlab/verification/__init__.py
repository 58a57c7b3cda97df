"""``gradlab.verify``: check any function's backward against a plain-ops reference,
per dtype, with the one verdict rule and (in float64) the Taylor remainder test.

The names below load on first use, so that the CLI's parser (which reads
``spec``) does not import pandas.
"""

__all__ = ["DEFAULT_DTYPES", "Mistake", "Report", "verify"]


def __getattr__(name: str):
    if name in ("DEFAULT_DTYPES", "Mistake", "verify"):
        from gradlab.verification import run

        return getattr(run, name)
    if name == "Report":
        from gradlab.verification.report import Report

        return Report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
