"""``gradlab.verify``: check any function's backward against a composite reference,
per dtype, with the one verdict rule and (in float64) the Taylor remainder test."""

from gradlab.verification.report import Report
from gradlab.verification.run import DEFAULT_DTYPES, Mistake, verify

__all__ = ["DEFAULT_DTYPES", "Mistake", "Report", "verify"]
