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
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.urlstate import from_query, to_query
from gradlab.core.errors import GradlabError
from gradlab.core.limits import Limits, MiB
from gradlab.problems.seed.case import Case
from gradlab.problems.seed.check import Check, run_check
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


# ----------------------------------------------------- sweeps and uploads


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


def size_text(nbytes: int) -> str:
    """Bytes for a caption: 12.0 KiB, 10.1 MiB, 7,451 GiB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes / 1024:,.1f} KiB"
