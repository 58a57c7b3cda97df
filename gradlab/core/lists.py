"""The one syntax for a list of values, shared by the CLI flags and the dashboard's
text widgets.

- Items are separated by commas, semicolons or spaces: ``2, 4;8 16``.
- For integers ``a..b`` doubles from a up to b: ``2..64`` is 2, 4, 8, 16, 32, 64.
- Numbers may use an exponent: ``1e-5``; an integer item ``1e6`` is 1000000.
- For names (``kind=str``), ``all`` stands for every allowed name.

``parse_list`` reads a text, ``list_text`` writes a tuple back in that syntax.
"""

from __future__ import annotations

import math
import re

from gradlab.core.errors import GradlabError

__all__ = ["list_text", "parse_list", "value_label"]

_RANGE = re.compile(r"^\s*([0-9.eE+]+)\s*\.\.\s*([0-9.eE+]+)\s*$")
_SEPARATOR = re.compile(r"\s*[,;]\s*|\s+")
_EXAMPLE = {int: "2, 4, 8 or 2..64", float: "0, 1e-6, 1e-5", str: "float32, float64"}
_WORD = {int: "an integer", float: "a number", str: "a name"}


def _number(text: str, kind: type, name: str):
    """One item as ``kind``: an int spelled as a float (``1e6``) must be whole."""
    if kind is int:
        try:
            return int(text)
        except ValueError:
            pass
    try:
        value = float(text)
    except ValueError:
        raise GradlabError(f"{name}: {text!r} is not {_WORD[kind]} "
                           f"(a list reads like {_EXAMPLE[kind]})", name) from None
    if kind is int:
        if not math.isfinite(value) or value != int(value):
            raise GradlabError(f"{name}: {text!r} is not an integer", name)
        return int(value)
    return value


def parse_list(text: str, kind: type, name: str, allowed: tuple[str, ...] = ()) -> tuple:
    """A list as a tuple of ``kind`` (int, float or str); ``""`` is ().

    For integers ``a..b`` means a, 2a, 4a, … up to b (sizes double). For names,
    ``all`` is ``allowed``, and each name must be one of ``allowed`` when it is
    given. A bad item, or an empty one (``0,,1``), raises GradlabError naming
    ``name``.
    """
    text = str(text).strip()
    if not text:
        return ()
    if kind is int and (match := _RANGE.match(text)):
        low, high = (_number(g, int, name) for g in match.groups())
        if low < 1 or high < low:
            raise GradlabError(f"{name}: a range a..b needs 1 ≤ a ≤ b (got {text!r})", name)
        values = []
        while low <= high and len(values) < 64:
            values.append(low)
            low *= 2
        return tuple(values)
    parts = _SEPARATOR.split(text)
    if "" in parts:
        raise GradlabError(f"{name}: an empty item in {text!r} "
                           f"(a list reads like {_EXAMPLE[kind]})", name)
    if kind is not str:
        return tuple(_number(part, kind, name) for part in parts)
    if allowed and parts == ["all"]:
        return tuple(allowed)
    for part in parts:
        if allowed and part not in allowed:
            raise GradlabError(f"{name}: each must be one of {', '.join(allowed)} or all "
                               f"(got {part!r})", name)
    return tuple(parts)


def list_text(values: tuple) -> str:
    """A tuple as a text widget shows it: ``a..b`` for a doubling run of three or more
    integers, else a comma list (floats at round-trip precision). ``parse_list`` reads
    it back."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if ints and len(values) > 2 and all(b == 2 * a for a, b in zip(values, values[1:])):
        return f"{values[0]}..{values[-1]}"
    return ", ".join(value_label(v) for v in values)


def value_label(value) -> str:
    """One value as text: floats at round-trip precision (``repr``), others by ``str``."""
    if isinstance(value, float):
        return repr(value)
    return str(value)
