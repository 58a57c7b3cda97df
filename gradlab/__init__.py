"""gradlab: is that gradient mismatch a bug or rounding?

The pure package: it never imports Streamlit. See README.md.
"""

__version__ = "0.1.0"

from gradlab.core.errors import GradlabError  # noqa: E402

__all__ = ["GradlabError", "__version__"]
