"""The headless command line: ``python -m gradlab check | sweep …``."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys

from gradlab.cli.check import add_check
from gradlab.core.errors import GradlabError
from gradlab.problems.seed.case import Case


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr and exit status 2, and
    ``--eps -1e-5`` reads as a (negative) number, not a flag."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message):
        raise SystemExit(_fail(message))


def _fail(message: str) -> int:
    """One line on stderr; a message that starts with a Case field names its flag."""
    first, _, rest = message.partition(" ")
    if first in {f.name for f in dataclasses.fields(Case)} | {"variant"}:
        message = f"--{first.replace('_', '-')} {rest}"
    print(f"gradlab: error: {message}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m gradlab",
                    description="Is that gradient mismatch a bug or rounding?")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_check(sub)
    try:  # the sweep command lives beside the sweep engine
        from gradlab.cli.sweep import add_sweep
    except ImportError:
        pass
    else:
        add_sweep(sub)
    from gradlab.cli.verify import add_verify
    add_verify(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GradlabError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # `… | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
