"""GradlabError carries the parameter it is about, so a front end names it its own way
(a CLI flag, a dashboard widget) without reading the message's words."""

from __future__ import annotations

import pickle

import pytest

from gradlab.core.errors import GradlabError
from gradlab.core.validate import finite_float, positive_int
from gradlab.problems.seed.case import Case


def test_the_parameter_is_carried_and_renamed_from_a_table():
    exc = GradlabError("eps_placement must be one of inside, outside (got 'x')", "eps_placement")
    assert exc.parameter == "eps_placement"
    assert exc.detail == " must be one of inside, outside (got 'x')"
    assert exc.named({"eps_placement": "--eps-placement"}) == \
        "--eps-placement must be one of inside, outside (got 'x')"
    assert exc.named({"m": "--m"}) == str(exc)  # a parameter the table lacks: as raised


def test_an_error_without_a_parameter_is_never_renamed():
    exc = GradlabError("m=4 needs about 9 MiB, over the memory budget")
    assert exc.parameter is None and exc.detail == str(exc)
    assert exc.named({"m": "--m"}) == str(exc)  # its first word is not its parameter


def test_the_message_must_start_with_its_parameter():
    with pytest.raises(TypeError, match="must start with it"):
        GradlabError("must be ≥ 1 (got 0)", "m")


def test_the_parameter_survives_pickling():
    """Errors raised on a Dask worker come back pickled."""
    exc = pickle.loads(pickle.dumps(GradlabError("seeds must be ≥ 0 (got -1)", "seeds")))
    assert isinstance(exc, GradlabError) and exc.parameter == "seeds"
    assert str(exc) == "seeds must be ≥ 0 (got -1)"


@pytest.mark.parametrize("fields, parameter", [
    ({"m": 0}, "m"), ({"n": 2.5}, "n"), ({"batch": 0}, "batch"), ({"dtype": "float8"}, "dtype"),
    ({"eps": -1.0}, "eps"), ({"eps_placement": "x"}, "eps_placement"), ({"scale": 0.0}, "scale"),
    ({"seed": -1}, "seed"), ({"preset": "x"}, "preset"),
], ids=lambda v: str(v) if isinstance(v, str) else "-".join(map(str, v.items())))
def test_every_case_field_is_its_errors_parameter(fields, parameter):
    with pytest.raises(GradlabError) as info:
        Case(**{"m": 2, "n": 3, **fields})
    assert info.value.parameter == parameter


@pytest.mark.parametrize("check", [lambda: positive_int("size", 0),
                                   lambda: finite_float("size", float("nan"))],
                         ids=["positive_int", "finite_float"])
def test_the_validators_name_their_parameter(check):
    with pytest.raises(GradlabError) as info:
        check()
    assert info.value.parameter == "size"
