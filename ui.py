"""The dashboard's one Streamlit helper module: URL state, limits, errors, cached calls.

Pages stay thin: read the widgets, build a frozen config, call a cached
function here (which calls ``gradlab``), render. ``gradlab`` never imports
streamlit; this module is the seam.

URL state, for a page whose view is a frozen dataclass ``View`` with one
widget per field (widget key = ``prefix + field``)::

    DEFAULT = View()
    problems = ui.restore_widgets(DEFAULT, "explorer.")   # seed widgets from the URL
    m = st.number_input("m", key="explorer.m")           # no value=: the state holds it
    ...
    view = ui.widget_config(DEFAULT, "explorer.")        # the frozen config
    ui.sync_url(view, DEFAULT)                           # only non-default fields

A widget whose key is missing from the session state (first run, or after a
page switch) takes its value from the URL, else from the default. A URL
parameter that does not parse is reported by ``restore_widgets`` (naming the
parameter) and the default stands for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import altair as alt
import streamlit as st

from gradlab.case import Case, Limits
from gradlab.check import Check, run_check
from gradlab.errors import GradlabError
from gradlab.urlstate import from_query, to_query

# ------------------------------------------------------------------ errors


def show_error(exc: BaseException) -> None:
    """A GradlabError (bad input, a guard) as an error box, not a traceback."""
    st.error(str(exc), icon=":material/block:")


@contextmanager
def guard(stop: bool = True) -> Iterator[None]:
    """Run a block; a GradlabError becomes ``st.error`` (and, by default, stops the page)."""
    try:
        yield
    except GradlabError as exc:
        show_error(exc)
        if stop:
            st.stop()


# ------------------------------------------------------------------ limits


def limits() -> Limits:
    """The resource guard of this instance (GRADLAB_* environment variables)."""
    try:
        return Limits.from_env()
    except GradlabError as exc:
        show_error(exc)
        st.stop()
        raise  # unreachable: st.stop raises


# --------------------------------------------------------------- URL state


def _key(prefix: str, name: str) -> str:
    return prefix + name


def _widget_value(value):
    """A config value as a widget holds it (multiselects hold lists)."""
    return list(value) if isinstance(value, tuple) else value


def restore_widgets(default, prefix: str = "") -> list[str]:
    """Seed the widget state of every field of ``default`` that has none yet.

    The value comes from the URL query string when it has the field, else
    from ``default``. Returns the URL's problems, each naming its parameter.
    """
    params = st.query_params.to_dict()
    config, problems = from_query(type(default), params, default)
    for f in dataclasses.fields(default):
        key = _key(prefix, f.name)
        if key not in st.session_state:
            st.session_state[key] = _widget_value(getattr(config, f.name))
    return problems


def show_url_problems(problems: list[str]) -> None:
    """A warning listing the URL parameters that were ignored."""
    if problems:
        st.warning("Ignored in the URL: " + "; ".join(problems), icon=":material/link_off:")


def widget_config(default, prefix: str = ""):
    """The frozen config the widgets now hold (a GradlabError if it fails validation)."""
    values = {}
    for f in dataclasses.fields(default):
        key = _key(prefix, f.name)
        if key in st.session_state:
            value = st.session_state[key]
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(default, **values)


def sync_url(config, default, extra: dict[str, str] | None = None) -> None:
    """Write the fields of ``config`` that differ from ``default`` to the URL.

    The default view has a clean URL. The query string is replaced as a
    whole, and only when it changed (no needless browser history entries).
    """
    wanted = {**to_query(config, default), **(extra or {})}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def current_view(default, prefix: str = ""):
    """The page's config as its widgets now hold it, written back to the URL.
    A config that fails validation shows its error and stops the page."""
    with guard():
        view = widget_config(default, prefix)
    sync_url(view, default)
    return view


def set_widgets(config, prefix: str = "") -> None:
    """Put ``config``'s values into the widgets (call before they render, e.g. in a callback)."""
    for f in dataclasses.fields(config):
        st.session_state[_key(prefix, f.name)] = _widget_value(getattr(config, f.name))


# ------------------------------------------------------------------ charts


def chart(spec: alt.TopLevelMixin, caption: str) -> None:
    """An Altair chart at full width with a caption saying what to read in it."""
    st.altair_chart(spec, width="stretch")
    st.caption(caption)


# ----------------------------------------------------------- cached calls


@st.cache_data(show_spinner=False, max_entries=256)
def cached_check(case: Case, variant: str | None = None, limits: Limits = Limits()) -> Check:
    """``run_check`` on one case, cached on (case, variant, limits)."""
    return run_check(case, variant=variant, limits=limits)


def cached(func: Callable, **cache_args) -> Callable:
    """``st.cache_data`` around a pure gradlab function (arguments must be hashable
    or frozen dataclasses)."""
    return st.cache_data(show_spinner=False, max_entries=64, **cache_args)(func)


# =====================================================================
# Sweep, Precision and Compare helpers (dashboard-2; appended section)
# =====================================================================

import math as _math  # noqa: E402
import re as _re  # noqa: E402

import pandas as _pd  # noqa: E402

from gradlab.case import MiB as _MiB  # noqa: E402
from gradlab.export import read_csv_bytes as _read_csv_bytes  # noqa: E402
from gradlab.sweep import Sweep as _Sweep  # noqa: E402
from gradlab.sweep import cached_sweep as _cached_sweep  # noqa: E402

_RANGE = _re.compile(r"^\s*([0-9.eE+]+)\s*\.\.\s*([0-9.eE+]+)\s*$")


def _number(text: str, kind: type, name: str):
    try:
        value = float(text)
    except ValueError:
        raise GradlabError(f"{name}: {text!r} is not a number") from None
    if kind is int:
        if not _math.isfinite(value) or value != int(value):
            raise GradlabError(f"{name}: {text!r} is not an integer")
        return int(value)
    return value


def parse_list(text: str, kind: type, name: str) -> tuple:
    """A comma (or space) separated list as a tuple of ``kind``; ``""`` is ().

    For integers ``a..b`` means a, 2a, 4a, … up to b (sizes double), and
    ``1e6`` is read as 1000000. A bad item raises GradlabError naming ``name``.
    """
    text = str(text).strip()
    if not text:
        return ()
    if kind is int and (match := _RANGE.match(text)):
        low, high = (_number(g, int, name) for g in match.groups())
        if low < 1 or high < low:
            raise GradlabError(f"{name}: a range a..b needs 1 ≤ a ≤ b (got {text!r})")
        values = []
        while low <= high and len(values) < 64:
            values.append(low)
            low *= 2
        return tuple(values)
    return tuple(_number(part, kind, name) for part in _re.split(r"[,;\s]+", text) if part)


def list_text(values: tuple) -> str:
    """A tuple as a text widget shows it: ``a..b`` for a doubling run of three or more
    integers, else a comma list (floats at round-trip precision). ``parse_list`` reads
    it back."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if ints and len(values) > 2 and all(b == 2 * a for a, b in zip(values, values[1:])):
        return f"{values[0]}..{values[-1]}"
    return ", ".join(value_label(v) for v in values)


def keep_options(key: str, options, problems: list[str], name: str) -> None:
    """Drop a widget's state that is not among ``options`` (from a hand-edited URL or
    an older result), with a problem naming the parameter, before the widget renders."""
    if key not in st.session_state:
        return
    value = st.session_state[key]
    if isinstance(value, list):
        bad = [v for v in value if v not in options]
        if bad:
            problems.append(f"{name}: {', '.join(map(str, bad))} not among "
                            f"{', '.join(map(str, options))}")
            st.session_state[key] = [v for v in value if v in options]
    elif value not in options:
        problems.append(f"{name}: {value!r} not among {', '.join(map(str, options))}")
        st.session_state[key] = options[0]


def value_label(value) -> str:
    """One value of a facet column as a filter option (floats round-trip)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def labels(frame: _pd.DataFrame, column: str) -> list[str]:
    """The distinct values of ``column`` as labels, in sorted value order."""
    if column not in frame:
        return []
    return [value_label(v) for v in sorted(frame[column].dropna().unique().tolist())]


def keep_rows(frame: _pd.DataFrame, picks: dict[str, str]) -> _pd.DataFrame:
    """The rows whose ``column`` has the label ``picks[column]`` ("" keeps all)."""
    for column, label in picks.items():
        if label and column in frame:
            frame = frame[frame[column].map(value_label) == label]
    return frame


def run_sweep_with_progress(sweep: _Sweep, limits: Limits, what: str = "Sweep"
                            ) -> _pd.DataFrame:
    """The sweep's rows, from this process's cache (at once) or run with a progress bar.

    The bar's updates are where a rerun or a closed tab interrupts the run.
    """
    bar = st.progress(0.0, text=f"{what}: starting {sweep.points:,} points…")

    def progress(done: int, total: int, elapsed: float) -> None:
        left = elapsed / done * (total - done) if done else 0.0
        bar.progress(done / total, text=f"{what}: {done:,} of {total:,} points · "
                                        f"{elapsed:,.1f} s · about {left:,.0f} s left")

    try:
        return _cached_sweep(sweep, limits, progress=progress)
    finally:
        bar.empty()


def read_uploads(files, limits: Limits) -> tuple[dict[str, _pd.DataFrame], list[str]]:
    """(frames by file name, problems): every readable upload, and one message per
    file that is not (naming it). Repeated names get " (2)", " (3)", …"""
    frames: dict[str, _pd.DataFrame] = {}
    problems: list[str] = []
    for file in files or []:
        name = file.name
        if getattr(file, "size", 0) > limits.upload_bytes:
            problems.append(f"{name}: it is {file.size / _MiB:,.1f} MiB, over the upload "
                            f"limit of {limits.upload_bytes / _MiB:,.1f} MiB")
            continue
        try:
            frame = _read_csv_bytes(file.getvalue(), name, limits)
        except GradlabError as exc:
            problems.append(str(exc))
            continue
        key, k = name, 2
        while key in frames:
            key, k = f"{name} ({k})", k + 1
        frames[key] = frame
    return frames, problems


def size_text(nbytes: int) -> str:
    """Bytes for a caption: 12.0 KiB, 10.1 MiB, 7,451 GiB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes / 1024:,.1f} KiB"
