"""A chart as a file: self-contained HTML (Vega, Vega-Lite and vega-embed inlined, so
it renders offline), PNG or SVG, rendered by vl-convert (no browser, no network).

Pure functions: an Altair chart (or its Vega-Lite dict) in, the file's bytes out.
``Report.save_chart`` writes with ``chart_bytes`` (``gradlab/public.py`` wires it), and
the dashboard's download buttons name their files with ``file_stem``.
"""

from __future__ import annotations

import re
import unicodedata

import altair as alt

from gradlab.core.errors import GradlabError

__all__ = ["chart_bytes", "chart_title", "file_stem", "FORMATS", "PNG_SCALE", "vegalite_version"]

#: Each format → its MIME type.
FORMATS = {"html": "text/html", "png": "image/png", "svg": "image/svg+xml"}
#: PNG pixels per chart pixel: sharp on a high-density screen and in a slide.
PNG_SCALE = 2.0
#: Letters a file name spells out (the rest of a title's symbols are dropped).
_SPELLED = {"∂": "d", "Δ": "delta", "κ": "kappa", "ε": "eps", "−": "-", "×": "x"}


def vegalite_version() -> str | None:
    """The Vega-Lite version Altair writes (``6.4`` of ``v6.4.1``) when vl-convert has
    it, else None (vl-convert's newest)."""
    import vl_convert

    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return major_minor if major_minor in vl_convert.get_vegalite_versions() else None


def _spec(chart) -> dict:
    return chart if isinstance(chart, dict) else chart.to_dict()


def chart_bytes(chart, fmt: str) -> bytes:
    """``chart`` (an Altair chart or its Vega-Lite dict) as a ``fmt`` file: "html" (one
    self-contained page: the JavaScript inlined, nothing fetched), "png" or "svg".
    Data must be inline (Altair's default): no URL is fetched."""
    if fmt not in FORMATS:
        raise GradlabError(f"fmt must be one of {', '.join(FORMATS)} (got {fmt!r})", "fmt")
    import vl_convert

    spec, version = _spec(chart), vegalite_version()
    if fmt == "html":
        return vl_convert.vegalite_to_html(spec, vl_version=version, bundle=True,
                                           renderer="svg").encode()
    if fmt == "png":
        return vl_convert.vegalite_to_png(spec, vl_version=version, scale=PNG_SCALE,
                                          allowed_base_urls=[])
    return vl_convert.vegalite_to_svg(spec, vl_version=version,
                                      allowed_base_urls=[]).encode()


def chart_title(chart) -> str:
    """The title text of ``chart`` (an Altair chart or its Vega-Lite dict): its own
    title (a string, a title object's text, or its lines joined); for a chart without
    one, its first y-axis title, else its first panel's title; else "". An Altair chart
    with a title is read as built, not converted."""
    own = _text(chart.get("title") if isinstance(chart, dict) else getattr(chart, "title", None))
    if own:
        return own
    spec = _spec(chart) if isinstance(chart, dict) else chart.to_dict(validate=False)
    for key in ("y", "title"):
        found = _first(spec, key)
        if found:
            return found
    return ""


def _text(title) -> str:
    """A title's text: a string, a title object's text, or its lines joined."""
    if isinstance(title, dict):
        title = title.get("text")
    elif isinstance(title, alt.TitleParams):
        title = title.text
    if title is None or title is alt.Undefined:
        return ""
    if isinstance(title, (list, tuple)):
        return " ".join(map(str, title))
    return str(title)


def _first(spec, key: str) -> str:
    """The first non-empty title under ``key`` anywhere in a spec (depth first):
    ``key`` "y" an encoding's y-axis title, "title" a view's title."""
    if isinstance(spec, list):
        return next((t for t in (_first(v, key) for v in spec) if t), "")
    if not isinstance(spec, dict):
        return ""
    value = spec.get(key)
    found = _text(value.get("title")) if key == "y" and isinstance(value, dict) else \
        _text(value) if key == "title" else ""
    if found:
        return found
    return next((t for t in (_first(v, key) for k, v in spec.items()
                             if k not in ("datasets", "data")) if t), "")


def file_stem(title: str, default: str = "chart", limit: int = 80) -> str:
    """A file name for a chart titled ``title``: lower-case ASCII words joined by "-"
    (∂x → dx, Δ → delta), at most ``limit`` characters; ``default`` when nothing is left."""
    text = "".join(_SPELLED.get(ch, ch) for ch in title)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return stem[:limit].rstrip("-") or default
