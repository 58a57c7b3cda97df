"""The flags of ``check`` and ``sweep``: every default shown in --help, one parser per
kind of flag (lists and numbers in the dashboard's syntax, budgets), one error line."""

from __future__ import annotations

import argparse
import re

import pytest
from conftest import run_cli

from gradlab.cli.check import case_from_args
from gradlab.cli.main import build_parser
from gradlab.cli.sweep import sweep_from_args
from gradlab.core.limits import Limits, MiB
from gradlab.problems.seed.case import Case

COMMANDS = ["check", "sweep"]


def error_line(argv, capsys) -> str:
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == "", (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradlab: error: "), err
    return lines[0]


def subparser(command: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_every_default(command):
    """Each flag that takes a value says its default (switches such as --json are off)."""
    parser = subparser(command)
    missing = [action.option_strings[0] for action in parser._actions
               if action.option_strings and action.nargs != 0
               and "default" not in (action.help or "")]
    assert not missing, f"{command} --help shows no default for {missing}"


@pytest.mark.parametrize("command, phrases", [
    ("check", ["(default float32)", "(default inside)", "(default all)", "(default 2)",
               "(default 3)", "(default none)", "(default 256, or GRADLAB_KRON_BUDGET_MIB)"]),
    ("sweep", ["(default 2..4096)", "(default all)", "(default inside)",
               "(default 0.0, 1e-06, 1e-05)", "(default 0, 1, 2)",
               "(default autograd, structured)", "(default 5000, or GRADLAB_MAX_POINTS)",
               "432 points"]),
])
def test_help_text_states_the_defaults(command, phrases, capsys):
    code, out, _ = run_cli([command, "--help"], capsys)
    assert code == 0
    text = " ".join(out.split())  # argparse wraps lines
    for phrase in phrases:
        assert phrase in text, phrase


def test_the_help_defaults_are_the_ones_used():
    args = build_parser().parse_args(["check"])
    assert case_from_args(args) == Case(2, 3)
    assert sweep_from_args(build_parser().parse_args(["sweep"])) == \
        sweep_from_args(build_parser().parse_args(
            ["sweep", "--dims", "2..4096", "--dtype", "all", "--eps", "0.0, 1e-06, 1e-05",
             "--seed", "0, 1, 2", "--method", "autograd, structured", "--batch", "1",
             "--eps-placement", "inside", "--scale", "1.0", "--variant", "none"]))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("text, phrase", [
    ("0", "must be a finite number > 0 (got '0')"),
    ("nan", "must be a finite number > 0 (got 'nan')"),
    ("inf", "must be a finite number > 0 (got 'inf')"),
    ("1e300", "must be ≤ 8,796,093,022,207 MiB, what a 64-bit integer holds in bytes "
              "(got '1e300')"),
    ("lots", "must be a number (got 'lots')"),
], ids=["zero", "nan", "inf", "huge", "word"])
def test_one_kron_budget_parser_for_both_commands(command, text, phrase, capsys):
    """The same text gets the same one-line answer from check and sweep."""
    line = error_line([command, "--kron-budget-mib", text], capsys)
    assert line == f"gradlab: error: --kron-budget-mib {phrase}"


@pytest.mark.parametrize("command", COMMANDS)
def test_the_budget_variable_applies_to_both_commands(command, monkeypatch):
    """GRADLAB_KRON_BUDGET_MIB sets the default of --kron-budget-mib; the flag wins."""
    from gradlab.cli.flags import limits_from_args

    monkeypatch.setenv("GRADLAB_KRON_BUDGET_MIB", "0.5")
    args = build_parser().parse_args([command])
    assert limits_from_args(args).kron_bytes == MiB // 2
    args = build_parser().parse_args([command, "--kron-budget-mib", "3"])
    assert limits_from_args(args) == Limits(kron_bytes=3 * MiB)


def test_check_reads_the_budget_variable(monkeypatch, capsys):
    monkeypatch.setenv("GRADLAB_KRON_BUDGET_MIB", "0.5")
    line = error_line(["check", "--m", "64", "--n", "64", "--method", "kron"], capsys)
    assert "over the kron budget of 0.5 MiB" in line


@pytest.mark.parametrize("argv, field, value", [
    (["--m", "1e3"], "m", 1000),
    (["--n", "2..2"], "n", 2),
    (["--eps", "1e-5"], "eps", 1e-5),
    (["--scale", "0.001"], "scale", 1e-3),
    (["--seed", "7"], "seed", 7),
    (["--batch", "4"], "batch", 4),
], ids=["m-exponent", "n-one-range", "eps", "scale", "seed", "batch"])
def test_check_reads_numbers_in_the_list_syntax(argv, field, value):
    case = case_from_args(build_parser().parse_args(["check", *argv]))
    assert getattr(case, field) == value


BAD_NUMBERS = [
    pytest.param(flag, text, id=f"{flag}-{name}")
    for flag, kind in [("--m", int), ("--batch", int), ("--eps", float), ("--seed", int)]
    for text, name in [("x", "word"), ("2.5", "fraction"), ("", "empty"),
                       ("1,,2", "empty-item")]
    if not (kind is float and text == "2.5")  # a number, and a fine ε
]


@pytest.mark.parametrize("flag, text", BAD_NUMBERS)
def test_a_bad_number_reads_the_same_in_check_and_sweep(flag, text, capsys):
    """One parser: the same text is refused with the same words by both commands."""
    extra = ["--n", "3"] if flag == "--m" else []
    check = error_line(["check", flag, text], capsys)
    sweep = error_line(["sweep", "--no-progress", flag, text, *extra], capsys)
    if text == "1,,2":
        assert f"{flag}: an empty item in '1,,2'" in check and check == sweep
    elif text == "":
        assert f"{flag} needs at least one value" in check and check == sweep
    else:
        assert check == sweep
        assert re.search(rf"{flag}: '{re.escape(text)}' is not an? (integer|number)", check)


@pytest.mark.parametrize("argv, phrase", [
    (["--method", "magic"], "--method: each must be one of autograd, structured, kron or all"),
    (["--method", ""], "--method needs at least one value"),
], ids=["unknown", "empty"])
def test_method_lists_read_the_same_in_check_and_sweep(argv, phrase, capsys):
    assert phrase in error_line(["check", *argv], capsys)
    assert phrase in error_line(["sweep", "--no-progress", *argv], capsys)


def test_sweep_takes_the_dashboards_ranges(capsys):
    code, out, _ = run_cli(["sweep", "--dims", "2..64", "--dtype", "float32", "--eps", "0",
                        "--seed", "0", "--dry-run"], capsys)
    assert code == 0
    assert out.startswith("6 points; the largest (m=64, n=64")


def test_argparse_errors_name_the_flag_without_argparse_wording(capsys):
    line = error_line(["check", "--preset", "seed"], capsys)
    assert line.startswith("gradlab: error: --preset: invalid choice: 'seed'")


def test_every_field_a_flag_sets_is_named_as_that_flag():
    """One table (cli/flags.py) turns a GradlabError's parameter into the flag the user
    typed: every Case field ``check`` sets and every Sweep field ``sweep`` sets."""
    from gradlab.cli.flags import PARAMETER_FLAGS, flag
    from gradlab.cli.sweep import FLAGS

    for dest, (field, _, _) in FLAGS.items():
        assert PARAMETER_FLAGS[field] == flag(dest), field
    for option in subparser("check")._actions:
        if option.option_strings and option.dest in {f.name for f in
                                                     __import__("dataclasses").fields(Case)}:
            assert PARAMETER_FLAGS[option.dest] == option.option_strings[0], option.dest


@pytest.mark.parametrize("argv, line", [
    (["sweep", "--dtype", "float32", "--eps-placement", "inside", "--seed", "0",
      "--dims", "0"], "gradlab: error: --dims: each must be ≥ 1 (got 0)"),
    (["sweep", "--device", "tpu"], "gradlab: error: --device must be cpu or cuda (got 'tpu')"),
    (["check", "--eps-placement", "sideways"], "gradlab: error: --eps-placement must be one of"),
    (["verify", "--problem", "gelu", "--seed", "-1"], "gradlab: error: --seed must be an integer"),
], ids=["sweep-dims", "sweep-device", "check-placement", "verify-seed"])
def test_errors_name_the_flag_in_every_command(argv, line, capsys):
    assert error_line(argv, capsys).startswith(line)
