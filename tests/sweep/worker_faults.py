"""Faults injected into Dask workers by the cluster tests (imported on the workers,
which get PYTHONPATH=<repo root>): a worker plugin that makes every float16 point's
``run_check`` raise AssertionError, as a method that ran in the wrong dtype does."""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin

MESSAGE = "structured ran in {'float32'}, not float16 (injected on the worker)"


class Float16Asserts(WorkerPlugin):
    """While registered, ``gradlab.sweep.points.run_check`` raises AssertionError for
    float16 cases on this worker; unregistering restores it."""

    name = "gradlab-float16-asserts"

    def setup(self, worker):
        import gradlab.sweep.points as points

        real = points.run_check

        def run_check(case, *args, **kwargs):
            if case.dtype == "float16":
                raise AssertionError(MESSAGE)
            return real(case, *args, **kwargs)

        self._real = real
        points.run_check = run_check

    def teardown(self, worker):
        import gradlab.sweep.points as points

        points.run_check = self._real
