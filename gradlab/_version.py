"""gradlab's version: one place, imported by the package and by its provenance
columns without either importing the other (pyproject.toml repeats it)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
