"""A frozen config ↔ URL query parameters, so a copied URL restores a view.

Pure: the dashboard passes ``st.query_params`` in and writes the dict back.
Only fields that differ from the page's default are written, so the default
view keeps a clean URL. Tuples travel as comma lists; floats at round-trip
precision (``repr``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping

from gradlab.core.errors import GradlabError


def _text(value) -> str:
    if isinstance(value, tuple):
        return ",".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def to_query(config, default) -> dict[str, str]:
    """The fields of ``config`` that differ from ``default``, as strings."""
    return {f.name: _text(getattr(config, f.name)) for f in dataclasses.fields(config)
            if getattr(config, f.name) != getattr(default, f.name)}


def _scalar(kind, text: str, name: str):
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise GradlabError(f"{name} must be 1 or 0 (got {text!r})")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise GradlabError(f"{name} must be an integer (got {text!r})") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise GradlabError(f"{name} must be a number (got {text!r})") from None
    return text


def _parse(hint, text: str, name: str):
    origin = typing.get_origin(hint)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_scalar(item, part.strip(), name) for part in text.split(",")
                     if part.strip())
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if text == "" else _scalar(args[0], text, name)
    return _scalar(hint, text, name)


def from_query(cls, params: Mapping, default):
    """(config, errors): ``default`` updated from ``params``.

    A parameter that does not parse, or a config that fails validation, is
    reported in ``errors`` (naming the parameter) and the default stands for
    it, so a hand-edited URL never breaks the page. Unknown keys are ignored.
    """
    hints = typing.get_type_hints(cls)
    values, errors = {}, []
    for f in dataclasses.fields(cls):
        if f.name not in params:
            continue
        raw = params[f.name]
        text = raw[-1] if isinstance(raw, list) else str(raw)
        try:
            values[f.name] = _parse(hints[f.name], text, f.name)
        except GradlabError as exc:
            errors.append(str(exc))
    try:
        return dataclasses.replace(default, **values), errors
    except GradlabError as exc:
        return default, [*errors, str(exc)]
