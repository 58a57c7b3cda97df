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
    view = ui.current_view(DEFAULT, "explorer.")         # the frozen config, written to
                                                         # the URL (non-default fields only)

A widget whose key is missing from the session state (first run, or after a
page switch) takes its value from the URL, else from the default. A URL
parameter that does not parse is reported by ``restore_widgets`` (naming the
parameter) and the default stands for it.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitDuplicateElementId, StreamlitDuplicateElementKey

from dashboard.urlstate import (
    field_text,
    from_query,
    named,
    parse_field,
    to_query,
    widget_labels,
    with_fields,
)
from gradlab.charts import export
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.core.memory import trim_freed_memory
from gradlab.sweep.executor import Executor
from gradlab.sweep.export import read_csv_bytes
from gradlab.sweep.grid import Sweep
from gradlab.sweep.runner import cached_sweep

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


def text_fields(default) -> tuple[str, ...]:
    """The fields of ``default``'s class whose widget is a text box (its
    ``TEXT_FIELDS``): typed numbers are parsed here, naming the field, instead of
    by the browser (whose number box reads "1e23" as 1)."""
    return tuple(getattr(type(default), "TEXT_FIELDS", ()))


def restore_widgets(default, prefix: str = "") -> list[str]:
    """Seed the widget state of every field of ``default`` that has none yet.

    The value comes from the URL query string when it has the field, else
    from ``default``. Returns the URL's problems, each naming its parameter
    (a bad parameter keeps its default; the good ones are kept).
    """
    params = st.query_params.to_dict()
    config, problems = from_query(type(default), params, default)
    text = text_fields(default)
    for f in dataclasses.fields(default):
        key = _key(prefix, f.name)
        if key not in st.session_state:
            value = getattr(config, f.name)
            st.session_state[key] = field_text(value) if f.name in text else _widget_value(value)
    return problems


def unknown_in_url(*defaults, extra: tuple[str, ...] = ()) -> list[str]:
    """A problem per URL parameter the page does not read: none of ``defaults``' fields
    (the page's configs) nor ``extra`` (such as the Sweep's ``run``). A mistyped
    parameter is said, not dropped silently."""
    known = {f.name for d in defaults for f in dataclasses.fields(d)} | set(extra)
    return [f"{name}: not a parameter of this page (it reads "
            f"{', '.join(sorted(known))})" for name in st.query_params if name not in known]


def show_url_problems(problems: list[str]) -> None:
    """A warning listing the URL parameters that were ignored."""
    if problems:
        st.warning("Ignored in the URL (the default stands for each): " + "; ".join(problems),
                   icon=":material/link_off:")


def widget_config(default, prefix: str = ""):
    """The frozen config the widgets now hold. A GradlabError lists every field
    that does not parse or validate, each by name."""
    cls, text, labels = type(default), text_fields(default), widget_labels(type(default))
    values, problems = {}, []
    for f in dataclasses.fields(default):
        key = _key(prefix, f.name)
        if key not in st.session_state:
            continue
        value = st.session_state[key]
        if f.name in text:
            try:
                value = parse_field(cls, f.name, value)
            except GradlabError as exc:
                problems.append(named(f.name, exc, labels))
                continue
        values[f.name] = tuple(value) if isinstance(value, list) else value
    config, invalid = with_fields(default, values, labels)
    problems += invalid.values()
    if problems:
        raise GradlabError("; ".join(problems))
    return config


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


# ------------------------------------------------------------------ charts


#: Charts of several views: Vega-Lite cannot stretch them, so they keep their own
#: width (each builder sizes its panels to fit the main column at 1024 px).
COMPOSITE = (alt.FacetChart, alt.ConcatChart, alt.HConcatChart, alt.VConcatChart,
             alt.RepeatChart)


def draw(spec: alt.TopLevelMixin) -> None:
    """An Altair chart at the column's full width, or at its own width when it is
    several views (panels, strips). Drawn as SVG: every mark an element with an
    accessible label (the charts here have at most a few thousand marks)."""
    if getattr(spec, "usermeta", alt.Undefined) is alt.Undefined:
        spec = spec.properties(usermeta={"embedOptions": {"renderer": "svg"}})
    st.altair_chart(spec, width="content" if isinstance(spec, COMPOSITE) else "stretch")


def chart(spec: alt.TopLevelMixin, caption: str) -> None:
    """``draw`` the chart, with a caption saying what to read in it and its PNG and
    SVG downloads (``chart_downloads``)."""
    draw(spec)
    st.caption(caption)
    chart_downloads(spec)


#: The chart downloads: label → format of ``gradlab.charts.export.chart_bytes``.
DOWNLOADS = {"PNG": "png", "SVG": "svg"}


def chart_downloads(spec: alt.TopLevelMixin) -> None:
    """Two small buttons that download the chart as PNG and SVG, named after its
    title (``export.file_stem``). Nothing is rendered until a button is clicked:
    Streamlit then calls ``data`` (``export.chart_bytes`` on the chart), and the click
    does not rerun the page."""
    stem = export.file_stem(export.chart_title(spec))
    row = st.container(horizontal=True, gap="small")
    for label, fmt in DOWNLOADS.items():
        download = functools.partial(
            row.download_button, label, functools.partial(export.chart_bytes, spec, fmt),
            file_name=f"{stem}.{fmt}", mime=export.FORMATS[fmt], on_click="ignore",
            icon=":material/download:", type="tertiary",
            help=f"This chart as {label} ({stem}.{fmt})")
        _with_free_key(download, f"download.{fmt}.{stem}")


def _with_free_key(widget: Callable, key: str, tries: int = 100) -> None:
    """``widget(key=key)``, or with ``key.2``, ``key.3``, … when the same chart was
    drawn before in this run (a page that redraws into a placeholder)."""
    for n in range(1, tries + 1):
        try:
            widget(key=key if n == 1 else f"{key}.{n}")
            return
        except (StreamlitDuplicateElementKey, StreamlitDuplicateElementId):
            continue


# ----------------------------------------------------------- cached calls


def release_memory() -> None:
    """Give the free pages of the process's heap back to the OS
    (``memory.trim_freed_memory``, glibc's ``malloc_trim``), after a computation that
    allocated large tensors. Freed memory otherwise stays resident in the heap's
    arenas, so a server's memory would follow the number of cases computed, not the
    largest one (docs/benchmarks.md, "Figures behind the code", has what it saves)."""
    trim_freed_memory()


_RELEASE = threading.local()  # .held: inside ``one_release`` in this script's thread


@contextmanager
def one_release() -> Iterator[None]:
    """The cached computations inside give their freed memory back once, at the end,
    rather than each after itself: a page that computes several in a row (the
    Explorer's four dtypes) lets each reuse the pages the one before it faulted in
    (at m = n = 1024, about 60 ms of a new case's 0.3 s of checks)."""
    outer = getattr(_RELEASE, "held", False)
    _RELEASE.held = True
    try:
        yield
    finally:
        _RELEASE.held = outer
        if not outer:
            release_memory()


def cached(func: Callable, **cache_args) -> Callable:
    """``st.cache_data`` around a pure gradlab function (arguments must be hashable
    or frozen dataclasses; an argument named with a leading underscore is not part
    of the key); after each computation, the freed memory goes back to the OS
    (``release_memory``), or at the end of ``one_release``."""
    @functools.wraps(func)
    def computed(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            if not getattr(_RELEASE, "held", False):
                release_memory()

    return st.cache_data(**{"show_spinner": False, "max_entries": 64, **cache_args})(computed)


# ----------------------------------------------------- sweeps and uploads


def keep_options(key: str, options, problems: list[str], name: str, default=None) -> None:
    """Drop a widget's state that is not among ``options`` (from a hand-edited URL or
    an older result), with a problem naming the parameter, before the widget renders.
    A multiselect left with none of its values gets ``default`` (the page's own), so
    "the default stands" holds."""
    if key not in st.session_state:
        return
    value = st.session_state[key]
    if isinstance(value, list):
        bad = [v for v in value if v not in options]
        if bad:
            problems.append(f"{name}: {', '.join(map(str, bad))} not among "
                            f"{', '.join(map(str, options))}")
            kept = [v for v in value if v in options]
            st.session_state[key] = kept or list(default or ())
    elif value not in options:
        problems.append(f"{name}: {value!r} not among {', '.join(map(str, options))}")
        st.session_state[key] = options[0]


def sweep_executor() -> Executor:
    """Where this instance runs sweeps: the Dask scheduler named by
    GRADLAB_DASK_SCHEDULER, or serially in the server's process. A malformed
    value shows its error and stops the page."""
    with guard():
        return Executor.from_env()


def run_sweep_with_progress(sweep: Sweep, limits: Limits, what: str = "Sweep"
                            ) -> pd.DataFrame:
    """The sweep's rows, from this process's cache (at once) or run with a progress bar,
    serially or on the Dask cluster of GRADLAB_DASK_SCHEDULER (see docs/hosting.md).

    The bar's updates are where a rerun or a closed tab interrupts the run; on a
    cluster they come at least once a second, and leaving cancels the sweep's
    tasks still waiting there. A scheduler that cannot be reached is an error
    box, not a traceback.
    """
    executor = sweep_executor()
    where = "" if executor.serial else f" on {executor.describe()}"
    bar = st.progress(0.0, text=f"{what}: starting {sweep.points:,} points{where}…")

    def progress(done: int, total: int, elapsed: float) -> None:
        left = elapsed / done * (total - done) if done else 0.0
        bar.progress(done / total, text=f"{what}: {done:,} of {total:,} points{where} · "
                                        f"{elapsed:,.1f} s · about {left:,.0f} s left")

    try:
        with guard():
            return cached_sweep(sweep, limits, progress=progress, executor=executor)
    finally:
        bar.empty()
        release_memory()


def read_uploads(files, limits: Limits) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """(frames by file name, problems): every readable upload, and one message per
    file that is not (naming it). Repeated names get " (2)", " (3)", …"""
    frames: dict[str, pd.DataFrame] = {}
    problems: list[str] = []
    for file in files or []:
        name = file.name
        if getattr(file, "size", 0) > limits.upload_bytes:
            problems.append(f"{name}: it is {file.size / MiB:,.1f} MiB, over the upload "
                            f"limit of {limits.upload_bytes / MiB:,.1f} MiB")
            continue
        try:
            frame = read_csv_bytes(file.getvalue(), name, limits)
        except GradlabError as exc:
            problems.append(str(exc))
            continue
        key, k = name, 2
        while key in frames:
            key, k = f"{name} ({k})", k + 1
        frames[key] = frame
    return frames, problems
