"""ui.cached gives freed memory back after each computation, or once at the end of
``ui.one_release`` (a page computing several in a row)."""

from __future__ import annotations

import itertools

from dashboard import ui

_fresh = itertools.count()


def counting(monkeypatch) -> list:
    released = []
    monkeypatch.setattr(ui, "release_memory", lambda: released.append(1))
    return released


def square(x: int) -> int:
    return x * x


def test_each_cached_computation_releases_after_itself(monkeypatch):
    released = counting(monkeypatch)
    computed = ui.cached(square)
    xs = [next(_fresh) for _ in range(3)]  # never computed before: no cache hit
    assert [computed(x) for x in xs] == [x * x for x in xs]
    assert len(released) == 3


def test_inside_one_release_they_release_once_at_the_end(monkeypatch):
    released = counting(monkeypatch)
    computed = ui.cached(square)
    with ui.one_release():
        for _ in range(3):
            computed(next(_fresh))
        with ui.one_release():  # nested: still once, at the outer end
            computed(next(_fresh))
        assert released == []
    assert len(released) == 1
    computed(next(_fresh))
    assert len(released) == 2
