"""Strict loading of ``params.yaml`` sections into frozen dataclasses.

Unknown keys and wrong types are errors that name the section and key, so a typo in params never
silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """A params section that does not match its dataclass."""


REPLACED = ("sources",)  # top-level keys a profile replaces instead of merging (a profile names its own data)


def read_params(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """The whole params file as a dict (empty dict when the file is empty).

    A profile (e.g. ``release/params.yaml``) names the file it changes with a top-level ``base:`` (relative
    to the profile's folder): the result is that file with the profile's values merged in, mapping by
    mapping, except ``sources``, which the profile replaces whole.
    """
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: no params file (run from the repository root, or pass --params)")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: should hold a mapping of sections, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = path.parent / str(base)
    if base_path.resolve() == path.resolve():
        raise ParamsError(f"{path}: `base` names the file itself")
    merged = read_params(base_path)
    for key, value in data.items():
        merged[key] = value if key in REPLACED else _merge(merged.get(key), value)
    return merged


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over


# Every top-level section a params file may hold: a typo'd section is an error, not silently ignored.
SECTIONS = ("sources", "retrain", "review", "studio", "curate", "model", "train", "evaluate", "predict", "export", "video",
            "synthesize", "autolabel", "clean", "ingest", "sample")

# Range of a numeric param without its own entry in its dataclass's ``RANGES``: finite and >= 0.
DEFAULT_RANGE = ">= 0"


def load_section(section: str, cls: type[T], path: Path | str = PARAMS_FILE) -> T:
    """Load ``section`` of the params file (dotted for nested: ``labeling.fusion``) into ``cls``."""
    data: Any = read_params(path)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ParamsError(f"{path}: unknown section(s) {unknown}; known: {list(SECTIONS)} "
                          "(a typo? add a new section to core.config.SECTIONS)")
    for part in section.split("."):
        if not isinstance(data, dict) or part not in data:
            raise ParamsError(f"{path}: no section `{section}` (expected a mapping for {cls.__name__})")
        data = data[part]
    return from_dict(cls, data or {}, where=section)


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types recursively."""
    if not isinstance(data, dict):
        raise ParamsError(f"`{where}` should be a mapping for {cls.__name__}, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ParamsError(f"`{where}`: unknown key(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {name: _convert(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    ranges = getattr(cls, "RANGES", {})
    for name, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            check_range(value, ranges.get(name, DEFAULT_RANGE), f"{where}.{name}")
    return cls(**values)


def check_ranges(obj: Any, where: str) -> None:
    """``check_range`` on each number field of the params dataclass ``obj`` that its ``RANGES`` names:
    for a ``__post_init__``, so that a directly built instance is held to the ranges ``from_dict`` checks."""
    for name, spec in getattr(obj, "RANGES", {}).items():
        check_range(getattr(obj, name), spec, f"{where}.{name}")


def check_range(value: float, spec: str, where: str) -> None:
    """ParamsError naming ``where`` unless ``value`` is finite and within ``spec``.

    ``spec``: ``">= 0"``, ``"> 0"``, ``"<= 1"``, ``"0..1"`` (both ends included) or ``"any"``.
    A params dataclass gives its own in ``RANGES: ClassVar[dict[str, str]]`` (field -> spec).
    """
    if spec == "any":
        return
    if not math.isfinite(value):
        raise ParamsError(f"`{where}` should be a finite number, got {value!r}")
    if ".." in spec:
        low, high = (float(v) for v in spec.split(".."))
        ok = low <= value <= high
        expected = f"in [{spec.replace('..', ', ')}]"
    else:
        op, bound = spec.split()
        ok = {">=": value >= float(bound), ">": value > float(bound), "<=": value <= float(bound),
              "<": value < float(bound)}[op]
        expected = spec
    if not ok:
        raise ParamsError(f"`{where}` should be {expected}, got {value!r}")


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except ParamsError as e:
                errors.append(str(e))
        raise ParamsError(f"`{where}` should be {tp}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"`{where}` should be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ParamsError(f"`{where}` should have {len(args)} items, got {value!r}")
            return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"`{where}` should be a mapping, got {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_convert(kt, k, where): _convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise ParamsError(f"`{where}` should be one of {list(args)}, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"`{where}` should be a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"`{where}` should be an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"`{where}` should be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ParamsError(f"`{where}` should be a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ParamsError(f"`{where}` should be {tp.__name__}, got {value!r}")
    return value
