"""The promotion rule of scheduled retraining, and the promotion's files."""
from __future__ import annotations

import json

import pytest

from training import champion

RULE = champion.PromotionRule(metric="iou", margin=0.01, guards={"mad": 1.0})
CHAMP = {"iou": 0.80, "mad": 20.0}


@pytest.mark.parametrize("candidate, promote, why", [
    ({"iou": 0.82, "mad": 19.0}, True, "improved"),
    ({"iou": 0.805, "mad": 19.0}, False, "below the margin"),
    ({"iou": 0.79, "mad": 10.0}, False, "iou regressed"),
    ({"iou": 0.90, "mad": 21.5}, False, "mad regressed"),   # guard: 1.5 worse > 1.0 allowed
    ({"iou": 0.90, "mad": 20.9}, True, "improved"),         # within the guard's tolerance
])
def test_decide(candidate, promote, why):
    decision = champion.decide(candidate, CHAMP, RULE)
    assert decision.promote is promote
    assert why in decision.reason


def test_no_champion_promotes():
    assert champion.decide({"iou": 0.1, "mad": 99.0}, None, RULE).promote


def test_lower_is_better_metric():
    rule = champion.PromotionRule(metric="mad", margin=0.5, guards={})
    assert champion.decide({"mad": 19.0}, {"mad": 20.0}, rule).promote
    assert not champion.decide({"mad": 19.8}, {"mad": 20.0}, rule).promote


def test_unknown_metric_is_an_error():
    with pytest.raises(ValueError, match="one of"):
        champion.PromotionRule(metric="accuracy")


def test_promote_and_history(tmp_path):
    model = tmp_path / "matting.onnx"
    model.write_bytes(b"onnx bytes")
    champion.promote([model], {"iou": 0.9}, tmp_path / "champion")
    assert (tmp_path / "champion" / "matting.onnx").read_bytes() == b"onnx bytes"
    assert champion.champion_metrics(tmp_path / "champion") == {"iou": 0.9}
    history = tmp_path / "history.jsonl"
    champion.record(history, {"action": "promoted"})
    champion.record(history, {"action": "kept"})
    lines = [json.loads(line) for line in history.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["promoted", "kept"]
    assert all("time" in line for line in lines)
