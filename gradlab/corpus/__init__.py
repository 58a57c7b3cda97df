"""The corpus of real code that the verdict is measured on: torch's own operators
(its OpInfo database) and hand-written backward passes. See ``entry``."""

__all__: list[str] = []
