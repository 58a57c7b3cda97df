"""The one exception type gradlab raises for bad input."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["GradlabError"]


class GradlabError(ValueError):
    """Bad input: the message names the parameter, the limit and what came back.

    ``parameter`` is the name the raising API gives the bad value (a config field
    such as ``dtypes``, an argument such as ``device``), or None. The message
    starts with it, so that a front end can show the value under its own name
    (a CLI flag, a dashboard widget) with ``named``, from a table of its own and
    without reading the message's words.
    """

    def __init__(self, message: str, parameter: str | None = None):
        if parameter is not None and not _starts_with_word(message, parameter):
            raise TypeError(f"a GradlabError about {parameter!r} must start with it "
                            f"(got {message!r})")
        super().__init__(message)
        self.parameter = parameter

    def __reduce__(self):  # keep the parameter across pickling (Dask workers)
        return type(self), (str(self), self.parameter)

    @property
    def detail(self) -> str:
        """The message after the parameter's name (the whole message without one)."""
        return str(self)[len(self.parameter or ""):]

    def named(self, names: Mapping[str, str]) -> str:
        """The message with its parameter written ``names[parameter]``: a front end's
        own name for it. Unchanged for a parameter ``names`` lacks, or none."""
        if self.parameter is None or self.parameter not in names:
            return str(self)
        return names[self.parameter] + self.detail


def _starts_with_word(message: str, word: str) -> bool:
    """``message`` starts with ``word`` as a whole word ("m must", not "must")."""
    after = message[len(word):len(word) + 1]
    return message.startswith(word) and not (after.isalnum() or after == "_")
