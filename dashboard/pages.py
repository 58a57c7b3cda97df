"""The dashboard's pages, as data: the one list app.py builds its navigation from and
the tests read (no Streamlit here).

A page is two files named alike, its script ``views/<name>.py`` (widgets → frozen
config → cached call → render) and its pure part ``dashboard/<name>.py`` (the view
config, constants and table builders), plus its entry in ``PAGES``
(docs/development.md, "Adding a page").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The page scripts; not pages/: see docs/dashboard.md ("Why views/").
PAGES_DIR = Path(__file__).resolve().parent / "views"


@dataclass(frozen=True)
class Page:
    """One page of the navigation: its script in PAGES_DIR, its title, its icon
    (a Material Symbol) and its URL path."""

    script: str
    title: str
    icon: str
    url_path: str

    @property
    def path(self) -> Path:
        """The page's script."""
        return PAGES_DIR / self.script

    @property
    def name(self) -> str:
        """The script's stem, which names the page's pure module dashboard/<name>.py."""
        return Path(self.script).stem


#: Every page, in the navigation's order; the first is the home page.
PAGES = (
    Page("explorer.py", "Explorer", ":material/biotech:", "explorer"),
    Page("verify.py", "Verify", ":material/fact_check:", "verify"),
    Page("sweep.py", "Sweep", ":material/show_chart:", "sweep"),
    Page("precision.py", "Precision", ":material/target:", "precision"),
    Page("epsilon.py", "Epsilon", ":material/science:", "epsilon"),
    Page("compare.py", "Compare", ":material/compare_arrows:", "compare"),
    Page("ops.py", "Ops", ":material/grid_view:", "ops"),
)
HOME = PAGES[0]
