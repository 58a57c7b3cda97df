"""The first page's imports, taken while Streamlit starts (``python -m dashboard``).

A fresh server's first script run spent about 1.8 of its 3.4 s importing torch,
pandas, Altair and gradlab, after the browser had loaded the page. ``start`` takes
those imports, and builds one small chart so that Altair has loaded its schema and
narwhals its pandas backend, in a thread of the server's process while the server
starts and the browser loads Streamlit's page; the first script run then finds them
done (docs/benchmarks.md, "The dashboard", "Responsiveness").

``wait``, at the top of every script run (``navigation.main``), holds the script
until that thread is done, so the script never imports a module while the thread is
importing it. Without ``start`` (``streamlit run app.py``, AppTest) it returns at
once. An import that fails here is left for the page, which reports it.

Standard library only: importing this module must cost nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import threading

__all__ = ["MODULES", "start", "started", "wait", "warm"]

#: What the home page (the Explorer) imports, heaviest first.
MODULES = ("torch", "pandas", "pyarrow", "altair", "gradlab.charts.heatmaps", "dashboard.ui",
           "dashboard.explorer")

_thread: threading.Thread | None = None


def warm() -> None:
    """Import ``MODULES``, turn Altair's debug mode off, and build one small heat
    map's Vega-Lite dict: Altair's first ``to_dict`` loads its schema and narwhals'
    pandas backend.

    In debug mode Altair validates every object of a chart as it is constructed,
    and again as a whole when Streamlit converts it (``to_dict``); off, only the
    second. The Explorer's eight signed heat maps took 0.40 s to build with it and
    0.22 s without (one AppTest run each, imports done). Tests (AppTest, ``streamlit
    run``) keep Altair's default.
    """
    for name in MODULES:
        importlib.import_module(name)
    import altair as alt

    from gradlab.charts.heatmaps import signed_heatmap

    alt.utils.schemapi.disable_debug_mode()
    signed_heatmap([[1.0, -1.0]], "warm-up").to_dict()


def _warm_quietly() -> None:
    with contextlib.suppress(Exception):  # the page imports the same and reports it
        warm()


def start() -> threading.Thread:
    """Start ``warm`` in a daemon thread (once per process) and return it."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_warm_quietly, name="gradlab-preload", daemon=True)
        _thread.start()
    return _thread


def started() -> bool:
    """Whether this process started the preload (a server of ``python -m dashboard``)."""
    return _thread is not None


def wait() -> None:
    """Return once ``start``'s thread is done (at once if none was started)."""
    if _thread is not None:
        _thread.join()
