"""The champion model: the promotion rule of scheduled retraining, and the promotion itself.

A candidate (the pipeline's freshly evaluated model) replaces the champion only if it is better on
the primary metric by at least a margin AND no guard metric regresses by more than its tolerance,
both measured on the same fixed test set. Every decision is appended to a JSON-lines history.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from core import io

log = logging.getLogger(__name__)

# metric -> True when higher is better (the evaluation contract's names)
HIGHER_IS_BETTER = {"iou": True, "boundary_iou": True, "mad": False, "mse": False, "grad": False,
                    "conn": False, "fps": True}


@dataclass(frozen=True)
class PromotionRule:
    metric: str = "iou"          # primary metric from the evaluation's metrics.json
    margin: float = 0.005        # the candidate must beat the champion by at least this much (absolute)
    guards: dict[str, float] = field(default_factory=lambda: {"mad": 0.0})  # metric -> allowed regression

    def __post_init__(self):
        for name in (self.metric, *self.guards):
            if name not in HIGHER_IS_BETTER:
                raise ValueError(f"`retrain` metric should be one of {sorted(HIGHER_IS_BETTER)}, got {name!r}")


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate: dict, champion: dict | None, rule: PromotionRule) -> Decision:
    """Compare two metrics.json dicts under ``rule``. No champion -> promote."""
    if champion is None:
        return Decision(True, "no champion yet")
    gain = _gain(rule.metric, candidate, champion)
    if gain < 0:
        return Decision(False, f"{rule.metric} regressed: {candidate[rule.metric]:.5g} vs champion "
                               f"{champion[rule.metric]:.5g}")
    for name, tolerance in rule.guards.items():
        if _gain(name, candidate, champion) < -tolerance:
            return Decision(False, f"{name} regressed: {candidate[name]:.5g} vs champion {champion[name]:.5g}")
    if gain < rule.margin:
        return Decision(False, f"{rule.metric} gain {gain:.5g} below the margin {rule.margin}")
    return Decision(True, f"{rule.metric} improved by {gain:.5g} (margin {rule.margin})")


def _gain(name: str, candidate: dict, champion: dict) -> float:
    """Improvement of candidate over champion on ``name`` (positive = better)."""
    diff = float(candidate[name]) - float(champion[name])
    return diff if HIGHER_IS_BETTER[name] else -diff


def promote(model_files: list[Path], metrics: dict, champion_dir: Path) -> None:
    """Replace the champion folder's content by ``model_files`` and their metrics, atomically per file."""
    champion_dir.mkdir(parents=True, exist_ok=True)
    for src in model_files:
        with io.atomic_path(champion_dir / src.name) as tmp:
            shutil.copyfile(src, tmp)
    io.write_json(champion_dir / "metrics.json", metrics)


def champion_metrics(champion_dir: Path) -> dict | None:
    path = champion_dir / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def record(history: Path, entry: dict) -> None:
    """Append one decision to the JSON-lines history (rewritten atomically)."""
    entry = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **entry}
    previous = history.read_text() if history.is_file() else ""
    io.write_text(history, previous + json.dumps(entry, sort_keys=True, default=str) + "\n")
