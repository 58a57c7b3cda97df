"""A frozen config ↔ URL query parameters, so a copied URL restores a view.

Pure: the dashboard passes ``st.query_params`` in and writes the dict back.
Only fields that differ from the page's default are written, so the default
view keeps a clean URL. Tuples travel as comma lists; floats at round-trip
precision (``repr``).

Reading is field by field: each parameter is parsed and validated on its own,
so one bad parameter is reported (by name) and the good ones are kept.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from gradlab.core.errors import GradlabError


def field_text(value) -> str:
    """A field's value as the URL (or a text widget) holds it."""
    if isinstance(value, tuple):
        return ",".join(field_text(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def to_query(config, default) -> dict[str, str]:
    """The fields of ``config`` that differ from ``default``, as strings."""
    return {f.name: field_text(getattr(config, f.name)) for f in dataclasses.fields(config)
            if getattr(config, f.name) != getattr(default, f.name)}


def parse_int(text: str, name: str) -> int:
    """An integer, also written with an exponent (``1e6``, ``1e23``: exactly 10²³)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise GradlabError(f"{name} must be an integer (got {text!r})", name) from None
    if not value.is_finite() or value != value.to_integral_value():
        raise GradlabError(f"{name} must be an integer (got {text!r})", name)
    return int(value)


def _scalar(kind, text: str, name: str):
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise GradlabError(f"{name} must be 1 or 0 (got {text!r})", name)
    if kind is int:
        return parse_int(text, name)
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            raise GradlabError(f"{name} must be a number (got {text!r})", name) from None
        if math.isinf(value) and "inf" not in text.lower():
            raise GradlabError(f"{name} is out of range (got {text!r})", name)
        return value
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


def parse_field(cls, name: str, text: str):
    """The value of field ``name`` of ``cls`` from its text (a GradlabError naming it)."""
    return _parse(typing.get_type_hints(cls)[name], str(text), name)


def named(name: str, exc: GradlabError, labels: Mapping[str, str] | None = None) -> str:
    """The problem with field ``name``, as a page shows that field: by its widget's
    label in ``labels`` (the page's one table, its view's ``WIDGETS``), else by its
    name, as the URL writes it. An error about the field itself (its ``parameter``)
    says the name in place; any other error is prefixed with it."""
    shown = (labels or {}).get(name, name)
    return exc.named({name: shown}) if exc.parameter == name else f"{shown}: {exc}"


def widget_labels(cls) -> dict[str, str]:
    """A view's field → widget label table (``WIDGETS``; empty where it has none)."""
    return dict(getattr(cls, "WIDGETS", {}))


def with_fields(config, values: Mapping, labels: Mapping[str, str] | None = None
                ) -> tuple[object, dict[str, str]]:
    """(config, problems by field): ``config`` with ``values`` replaced, field by field.

    All values at once when the result validates; otherwise each value is
    tried on its own, in order, and one that fails validation is reported
    (``named``, by ``labels`` where given) while the others are kept.
    """
    try:
        return dataclasses.replace(config, **values), {}
    except GradlabError:
        pass
    problems = {}
    for name, value in values.items():
        try:
            config = dataclasses.replace(config, **{name: value})
        except GradlabError as exc:
            problems[name] = named(name, exc, labels)
    return config, problems


def from_query(cls, params: Mapping, default):
    """(config, errors): ``default`` updated from ``params``.

    Each parameter is parsed and validated on its own: one that does not
    parse, or whose value fails the config's validation, is reported in
    ``errors`` (naming the parameter) and the default stands for it, while the
    good parameters are kept. A hand-edited URL never breaks the page.
    Unknown keys are ignored.
    """
    values, problems = {}, {}
    for f in dataclasses.fields(cls):
        if f.name not in params:
            continue
        raw = params[f.name]
        text = raw[-1] if isinstance(raw, list) else str(raw)
        try:
            values[f.name] = parse_field(cls, f.name, text)
        except GradlabError as exc:
            problems[f.name] = named(f.name, exc)
    config, invalid = with_fields(default, values)
    problems.update(invalid)
    return config, [problems[f.name] for f in dataclasses.fields(cls) if f.name in problems]
