"""What a user names in text, for ``gradlab verify`` and the dashboard's Verify page
alike: inputs as NAME=SHAPE (``parse_inputs``) and callables as MODULE:NAME
(``load``). Each error is a GradlabError naming the field it came from (a CLI
flag, or the dashboard's field)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gradlab.core.errors import GradlabError
from gradlab.verification.calls import first_line
from gradlab.verification.spec import integers, parse_shape

__all__ = ["load", "parse_inputs"]


def parse_inputs(items: list[str], seed: int, what: str = "--input") -> dict:
    """["x=16x1024", "t=16:int:10"] → {"x": (16, 1024), "t": int64 tensor}; errors
    name ``what`` (the flag, or the dashboard's field)."""
    inputs: dict = {}
    for item in items:
        name, sep, spec = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise GradlabError(f"{what} must be NAME=SHAPE such as x=64x1024 (got {item!r})", what)
        if name in inputs:
            raise GradlabError(f"{what} names {name!r} twice", what)
        shape_part, _, high = spec.partition(":int:")
        shape = parse_shape(shape_part, f"{what} {name}")
        if high:
            if not high.strip().isdigit() or int(high) < 1:
                raise GradlabError(f"{what} {name}: HIGH of SHAPE:int:HIGH must be an "
                                   f"integer ≥ 1 (got {high!r})", what)
            inputs[name] = integers(shape, int(high), seed)
        else:
            inputs[name] = shape
    return inputs


def load(target: str, what: str) -> Callable:
    """The callable MODULE:NAME names; GradlabError naming what is wrong."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise GradlabError(f"{what} must be MODULE:NAME, such as mymodule:my_function "
                           f"(got {target!r})", what)
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = _import(module_name)
    except (Exception, SystemExit) as exc:
        raise GradlabError(f"{what}: cannot import {module_name!r} ({first_line(exc)})", what) \
            from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise GradlabError(f"{what}: {module_name!r} has no attribute {attr!r}", what) from None
    if not callable(obj):
        raise GradlabError(f"{what}: {target} is a {type(obj).__name__}, not callable", what)
    return obj


def _import(module_name: str):
    if not module_name.endswith(".py"):
        return importlib.import_module(module_name)
    path = Path(module_name)
    if not path.is_file():
        raise FileNotFoundError(f"no file {module_name}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module
