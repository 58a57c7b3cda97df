"""The headless command line: ``python -m gradlab check | sweep | verify | ops …``."""

from __future__ import annotations

import argparse
import re
import sys

from gradlab.cli.dashboard import COMMAND, run_dashboard
from gradlab.cli.flags import flag_message
from gradlab.core.errors import GradlabError
from gradlab.core.memory import keep_freed_memory

__all__ = ["build_parser", "CPU_TORCH", "main", "missing_package", "Parser", "REQUIREMENTS"]

#: Each third-party module gradlab imports → its requirement, as pyproject.toml
#: declares it (tests/cli/test_packaging.py holds the two together).
REQUIREMENTS = {
    "torch": "torch>=2.13,<3",
    "numpy": "numpy>=2.4,<3",
    "pandas": "pandas>=3.1,<4",
    "altair": "altair>=6.3,<7",
    "vl_convert": "vl-convert-python>=1.9,<2",
    "tqdm": "tqdm>=4.70,<5",
    "dask": "dask>=2026.8,<2027",
    "distributed": "distributed>=2026.8,<2027",
}
CPU_TORCH = "--index-url https://download.pytorch.org/whl/cpu"


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr and exit status 2, and
    ``--eps -1e-5`` reads as a (negative) number, not a flag."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message):
        raise SystemExit(_fail(message.removeprefix("argument ")))


def _fail(message: str) -> int:
    """One line on stderr, exit status 2 (bad input)."""
    print(f"gradlab: error: {message}", file=sys.stderr)
    return 2


def missing_package(exc: ModuleNotFoundError, who: str = "gradlab") -> str | None:
    """What to say when a third-party package is not installed, or None when the
    missing module is gradlab's own (a bug, not an installation problem)."""
    top = (exc.name or "").partition(".")[0]
    if not top or top == "gradlab":
        return None
    pip = f"{sys.executable} -m pip install"
    if top not in REQUIREMENTS:
        return (f"{who} needs the module '{top}', which is not installed; install "
                f"gradlab's requirements: {pip} -r requirements.txt")
    extra = f" (for the CPU-only build add {CPU_TORCH})" if top == "torch" else ""
    return f"{who} needs {top}, which is not installed: {pip} '{REQUIREMENTS[top]}'{extra}"


def build_parser() -> argparse.ArgumentParser:
    from gradlab.cli.check import add_check
    from gradlab.cli.dashboard import add_dashboard
    from gradlab.cli.ops import add_ops
    from gradlab.cli.sweep import add_sweep
    from gradlab.cli.verify import add_verify

    parser = Parser(prog="python -m gradlab",
                    description="Is that gradient mismatch a bug or rounding?")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_check(sub)
    add_sweep(sub)
    add_verify(sub)
    add_ops(sub)
    add_dashboard(sub)
    return parser


def main(argv=None) -> int:
    who = "gradlab"
    # `sweep --workers N`: the workers' fork server imports torch while this process
    # does (before the parser's imports; gradlab/sweep/forkserver.py imports nothing heavy).
    from gradlab.sweep.forkserver import start_early

    given = sys.argv[1:] if argv is None else list(argv)
    start_early(given)
    if given[:1] == [COMMAND]:  # Streamlit's options, not gradlab's: no argparse
        return run_dashboard(given[1:])
    try:
        args = build_parser().parse_args(given)
        who = f"the {args.command} command"
        if argv is None:  # this process is the command, and ends with it
            keep_freed_memory()
        return args.func(args)
    except GradlabError as exc:
        return _fail(flag_message(exc))
    except ModuleNotFoundError as exc:
        message = missing_package(exc, who)
        if message is None:
            raise
        return _fail(message)
    except BrokenPipeError:  # `… | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
