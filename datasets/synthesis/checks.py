"""Validation helpers for the synthesis params dataclasses (raised on construction, with the key's name)."""
from __future__ import annotations


def check_range(name: str, value: tuple[float, float], lo: float, hi: float) -> None:
    """``value`` is an ordered (low, high) pair inside [lo, hi]."""
    if len(value) != 2 or not (lo <= value[0] <= value[1] <= hi):
        raise ValueError(f"`{name}` should be an ordered [low, high] range within [{lo}, {hi}], got {value!r}")


def check_unit(name: str, value: float) -> None:
    """``value`` is a probability."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` should be a probability in [0, 1], got {value!r}")


def check_between(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ValueError(f"`{name}` should be in [{lo}, {hi}], got {value!r}")
