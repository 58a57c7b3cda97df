"""Case and Limits: every bad input is a GradlabError that names the parameter."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from gradlab.core.dtypes import DTYPE_NAMES, DTYPES
from gradlab.core.errors import GradlabError
from gradlab.core.limits import ENV_NAMES, Limits, MiB
from gradlab.problems.seed.case import Case


def names(message: str, parameter: str) -> bool:
    """The message names ``parameter`` as a word (not as part of another word)."""
    return re.search(rf"(?<![\w-]){re.escape(parameter)}(?![\w-])", message) is not None


BAD_CASES = [
    # sizes < 1
    ("m", dict(m=0)),
    ("m", dict(m=-1)),
    ("n", dict(n=0)),
    ("n", dict(n=-5)),
    ("batch", dict(batch=0)),
    ("batch", dict(batch=-2)),
    # non-int sizes
    ("m", dict(m=2.0)),
    ("m", dict(m="2")),
    ("m", dict(m=True)),
    ("n", dict(n=None)),
    ("n", dict(n=3.5)),
    ("batch", dict(batch=1.0)),
    ("batch", dict(batch=False)),
    # dtype
    ("dtype", dict(dtype="float8")),
    ("dtype", dict(dtype="Float32")),
    ("dtype", dict(dtype="fp16")),
    ("dtype", dict(dtype="")),
    ("dtype", dict(dtype=None)),
    # ε
    ("eps", dict(eps=-1e-9)),
    ("eps", dict(eps=-1)),
    ("eps", dict(eps=math.nan)),
    ("eps", dict(eps=math.inf)),
    ("eps", dict(eps=-math.inf)),
    ("eps", dict(eps="1e-5")),
    ("eps", dict(eps=None)),
    ("eps", dict(eps=True)),
    # placement
    ("eps_placement", dict(eps_placement="middle")),
    ("eps_placement", dict(eps_placement="Inside")),
    ("eps_placement", dict(eps_placement="")),
    ("eps_placement", dict(eps_placement=None)),
    # scale
    ("scale", dict(scale=0.0)),
    ("scale", dict(scale=-1.0)),
    ("scale", dict(scale=math.nan)),
    ("scale", dict(scale=math.inf)),
    ("scale", dict(scale="1")),
    # seed
    ("seed", dict(seed=-1)),
    ("seed", dict(seed=1.5)),
    ("seed", dict(seed=True)),
    ("seed", dict(seed="0")),
    # presets
    ("preset", dict(preset="seed")),
    ("preset", dict(preset="")),
    ("preset", dict(m=3, preset="notebook")),
    ("preset", dict(n=4, preset="notebook")),
    ("preset", dict(batch=2, preset="notebook")),
    ("preset", dict(scale=0.5, preset="notebook")),
    ("preset", dict(seed=1, preset="notebook")),
]


def _bad_id(param):
    name, kwargs = param
    return "-".join(f"{k}={v!r}" for k, v in kwargs.items())


@pytest.mark.parametrize("parameter, kwargs", BAD_CASES,
                         ids=[_bad_id(p) for p in BAD_CASES])
def test_bad_case_raises_naming_the_parameter(parameter, kwargs):
    fields = dict(m=2, n=3) | kwargs
    with pytest.raises(GradlabError) as info:
        Case(**fields)
    message = str(info.value)
    assert names(message, parameter), message
    assert "\n" not in message


@pytest.mark.parametrize("parameter, kwargs", [
    ("m", dict(m=0)), ("dtype", dict(dtype="float8")), ("eps", dict(eps=-1e-3)),
    ("scale", dict(scale=-2.0)), ("eps_placement", dict(eps_placement="middle")),
], ids=["m", "dtype", "eps", "scale", "eps_placement"])
def test_bad_case_message_says_what_came_back(parameter, kwargs):
    with pytest.raises(GradlabError) as info:
        Case(**(dict(m=2, n=3) | kwargs))
    (value,) = kwargs.values()
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    assert shown in str(info.value)


def test_gradlab_error_is_a_value_error():
    with pytest.raises(ValueError):
        Case(0, 3)


@pytest.mark.parametrize("kwargs", [
    dict(m=1, n=1), dict(m=2, n=3, batch=7), dict(m=4, n=4, eps=0.0),
    dict(m=4, n=4, eps=1e-300), dict(m=4, n=4, eps=1, eps_placement="outside"),
    dict(m=4, n=4, scale=1e-30), dict(m=4, n=4, seed=2**40),
], ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_good_cases_construct(kwargs):
    case = Case(**kwargs)
    for key, value in kwargs.items():
        assert getattr(case, key) == value


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_every_dtype_is_accepted(dtype):
    assert Case(2, 3, dtype=dtype).u == DTYPES[dtype].u


def test_defaults_are_the_seed():
    case = Case(2, 3)
    assert (case.batch, case.eps, case.eps_placement, case.scale, case.seed, case.preset) == \
        (1, 0.0, "inside", 1.0, 0, None)


def test_case_is_frozen_and_hashable():
    case = Case(2, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.m = 5
    assert hash(case) == hash(Case(2, 3))
    assert case != Case(2, 3, seed=1)


def test_notebook_preset_fields():
    case = Case.notebook()
    assert (case.m, case.n, case.batch, case.dtype, case.eps, case.preset) == \
        (2, 3, 1, "float32", 0.0, "notebook")
    assert Case.notebook(dtype="bfloat16", eps=1e-5, eps_placement="outside").eps_placement \
        == "outside"
    with pytest.raises(GradlabError, match="eps"):
        Case.notebook(eps=-1.0)


def test_to_row_is_flat_and_complete():
    row = Case(4, 5, batch=2, dtype="float16", eps=1e-5, seed=3).to_row()
    assert row == dict(m=4, n=5, batch=2, dtype="float16", eps=1e-5, eps_placement="inside",
                       scale=1.0, seed=3, preset="", draws="gradlab-ziggurat")
    assert Case.notebook().to_row()["preset"] == "notebook"
    assert Case.notebook().to_row()["draws"] == "notebook"


# ------------------------------------------------------------------ budgets

@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("m, n", [(2, 3), (512, 512), (4096, 7)], ids=["2x3", "512x512", "4096x7"])
def test_kron_bytes_is_m_squared_n_entries(dtype, m, n):
    itemsize = DTYPES[dtype].bits // 8
    assert Case(m, n, dtype=dtype).kron_bytes() == m * m * n * itemsize


def test_check_limits_refuses_a_million_by_a_million():
    case = Case(10**6, 10**6)
    with pytest.raises(GradlabError) as info:
        case.check_limits(Limits())
    message = str(info.value)
    assert "MiB" in message and "budget" in message
    assert "4,096 MiB" in message  # the default case budget, in the message
    Case(4096, 4096).check_limits(Limits())  # the largest dashboard size fits


def test_check_limits_uses_the_given_budget():
    case = Case(64, 64, batch=4)
    case.check_limits(Limits(case_bytes=case.case_bytes()))
    with pytest.raises(GradlabError, match="budget"):
        case.check_limits(Limits(case_bytes=case.case_bytes() - 1))


BAD_LIMITS = [
    ("kron_bytes", dict(kron_bytes=0)),
    ("kron_bytes", dict(kron_bytes=-1)),
    ("kron_bytes", dict(kron_bytes=1.5)),
    ("kron_bytes", dict(kron_bytes=True)),
    ("case_bytes", dict(case_bytes=0)),
    ("case_bytes", dict(case_bytes="1")),
    ("max_points", dict(max_points=0)),
    ("max_points", dict(max_points=None)),
    ("upload_bytes", dict(upload_bytes=-(2**20))),
]


@pytest.mark.parametrize("parameter, kwargs", BAD_LIMITS,
                         ids=[_bad_id(p) for p in BAD_LIMITS])
def test_bad_limits_raise_naming_the_parameter(parameter, kwargs):
    with pytest.raises(GradlabError) as info:
        Limits(**kwargs)
    assert names(str(info.value), parameter), str(info.value)


ENV_VARS = [var for var, _ in ENV_NAMES.values()]


@pytest.mark.parametrize("var", ENV_VARS)
@pytest.mark.parametrize("text", ["abc", "-1", "0", "nan", "inf", "-inf", "1e400", "1,5"],
                         ids=lambda t: repr(t))
def test_limits_from_env_bad_values_name_the_variable(var, text):
    with pytest.raises(GradlabError) as info:
        Limits.from_env({var: text})
    message = str(info.value)
    assert var in message and repr(text) in message


def test_limits_from_env_reads_each_variable():
    env = {"GRADLAB_KRON_BUDGET_MIB": "1.5", "GRADLAB_CASE_BUDGET_MIB": "100",
           "GRADLAB_MAX_POINTS": "12", "GRADLAB_MAX_UPLOAD_MIB": "2",
           "GRADLAB_MAX_SECONDS": "30"}
    assert Limits.from_env(env) == Limits(kron_bytes=int(1.5 * MiB), case_bytes=100 * MiB,
                                          max_points=12, upload_bytes=2 * MiB, max_seconds=30)


def test_the_time_guard_names_the_estimate_and_the_limit():
    """GRADLAB_MAX_SECONDS unset: no limit; set, a request estimated past it is refused
    before any work, saying both numbers (core/limits.check_seconds, Sweep.check)."""
    from gradlab.core.limits import check_seconds
    from gradlab.sweep.grid import Sweep

    assert Limits().max_seconds >= 2**62, "no time limit by default"
    check_seconds(1e9, Limits(), "anything")  # unset: never refused
    with pytest.raises(GradlabError, match=r"^the job refused: it would take about 12\.5 s "
                                           r"here, over the time limit of 5 s "
                                           r"\(GRADLAB_MAX_SECONDS\)"):
        check_seconds(12.5, Limits(max_seconds=5), "the job")
    sweep = Sweep.default()
    estimate = sweep.seconds()
    sweep.check(Limits(max_seconds=int(estimate) + 1))
    with pytest.raises(GradlabError, match=f"about {estimate:,.1f} s here, over the time limit"):
        sweep.check(Limits(max_seconds=max(1, int(estimate / 4))))


def test_the_cost_model_grows_with_the_work_and_shares_a_sweeps_draws():
    from gradlab.problems.seed.cost import (
        SWEEP_POINT,
        case_seconds,
        check_seconds,
        compute_seconds,
        draw_seconds,
    )

    small, big = Case(m=256, n=256), Case(m=2048, n=2048)
    assert 0 < check_seconds(small, Limits()) < check_seconds(big, Limits())
    assert check_seconds(big, Limits(), ("autograd",)) < check_seconds(big, Limits())
    dtypes = [Case(m=2048, n=2048, dtype=d) for d in ("float32", "bfloat16", "float16")]
    shared = case_seconds(dtypes, Limits())
    assert 0 < SWEEP_POINT < 1, "a sweep's point does less than a check"
    assert shared == pytest.approx(
        draw_seconds(big) + SWEEP_POINT * sum(compute_seconds(c, Limits()) for c in dtypes)
    ), "one draw for the three dtypes, each point at a sweep's share of a check"


def test_limits_from_env_ignores_unset_and_empty():
    assert Limits.from_env({}) == Limits()
    assert Limits.from_env({"GRADLAB_MAX_POINTS": ""}) == Limits()


def test_limits_from_env_reads_os_environ(monkeypatch):
    monkeypatch.setenv("GRADLAB_MAX_POINTS", "7")
    assert Limits.from_env().max_points == 7
    monkeypatch.setenv("GRADLAB_MAX_POINTS", "seven")
    with pytest.raises(GradlabError, match="GRADLAB_MAX_POINTS"):
        Limits.from_env()
