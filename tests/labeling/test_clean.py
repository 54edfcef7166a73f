"""`clean` on hand-made LABELS (members = exact copies or corruptions of the truth): decisions,
the quality.parquet contract, refined labels, the ignore mask, metrics; a smoke test through main."""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from core import io
from datasets.store import Store
from labeling import clean
from labeling.clean import CleanParams, DecideParams
from labeling.quality import Assessment, QualityParams, Ramp
from labeling.scorer import ScorerParams

CHECKS_MODE = ScorerParams(mode="checks")  # label_quality = the checks' product, a firing check flags

MEMBERS = ("mediapipe-selfie", "sinet")


def write_labels(store_root, labels, corrupt=None):
    """LABELS as autolabel writes them, with every member equal to the store's own label."""
    store = Store(store_root)
    for row in store.samples.itertuples():
        alpha = store.alpha(row)
        for name in (*MEMBERS, "ensemble"):
            io.write_png(labels / name / f"{row.id}.png", alpha)
        io.write_png(labels / "disagreement" / f"{row.id}.png", np.zeros_like(alpha))
    if corrupt:
        for sid, fn in corrupt.items():
            row = store.samples.set_index("id").loc[sid]
            io.write_png(store.root / row.alpha, fn(store.alpha(row)))


def boxed(alpha):
    ys, xs = np.nonzero(alpha)
    out = np.zeros_like(alpha)
    out[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = 255
    return out


def test_clean_scores_flags_and_decides(tiny_store, tmp_path):
    root = tiny_store(n=4, size=(96, 64))
    ids = list(Store(root).samples["id"])
    labels = tmp_path / "labels"
    write_labels(root, labels, corrupt={ids[1]: boxed, ids[2]: lambda a: np.zeros_like(a)})
    metrics = clean.run(CleanParams(), root, labels)
    q = pd.read_parquet(labels / "quality.parquet")
    assert list(q.columns) == ["id", "iou_mediapipe-selfie", "iou_sinet", "agreement", "gt_iou", "gt_boundary_iou",
                               "label_quality", "flagged", "flags", "decision"]
    q = q.set_index("id")
    good = q.loc[ids[0]]
    assert good.gt_iou == 1.0 and good.agreement == 1.0 and not good.flagged and good.decision == "keep"
    assert list(good["flags"]) == []
    box = q.loc[ids[1]]
    assert box.flagged and "box_shaped" in box["flags"] and box.decision == "replace" and box.label_quality < 0.5
    empty = q.loc[ids[2]]
    assert empty.flagged and "empty_label" in empty["flags"] and empty.decision == "replace"
    assert metrics["decisions"] == {"keep": 2, "refine": 0, "replace": 2, "review": 0, "drop": 0}
    assert metrics["flags"]["box_shaped"] == 1 and metrics["flags"]["empty_label"] == 1
    assert metrics["members"] == list(MEMBERS) and metrics["n"] == 4
    assert (labels / "refined").is_dir() and not any((labels / "refined").iterdir())


def test_ignored_pixels_are_not_scored(tiny_store, tmp_path):
    root = tiny_store(n=1, size=(96, 64))
    store = Store(root)
    row = next(store.samples.itertuples())
    labels = tmp_path / "labels"
    write_labels(root, labels)
    alpha = store.alpha(row)
    half = alpha.copy()
    half[:, :48] = 0  # the label loses its left half...
    io.write_png(root / row.alpha, half)
    ignore = np.zeros_like(alpha)
    ignore[:, :48] = 255  # ...where no label speaks
    io.write_png(root / "ignore" / f"{row.id}.png", ignore)
    samples = store.samples.assign(ignore=f"ignore/{row.id}.png")
    io.write_parquet(root / "samples.parquet", samples)
    clean.run(CleanParams(), root, labels)
    q = pd.read_parquet(labels / "quality.parquet").iloc[0]
    assert q.gt_iou == 1.0 and q.gt_boundary_iou == 1.0 and q.decision == "keep"


def assessment(quality, flags, gt_iou=0.9, agreement=0.9, ensemble_area=0.2):
    return Assessment(member_iou={}, agreement=agreement, gt_iou=gt_iou, gt_boundary_iou=0.5, evidence={},
                      measures={"ensemble_area": ensemble_area}, label_quality=quality, flags=flags)


@pytest.mark.parametrize("a,expected", [
    (assessment(0.9, []), (False, "keep")),
    (assessment(0.9, ["members_disagree"]), (False, "keep")),  # no error of the label's own
    (assessment(0.3, ["off_edges"]), (True, "refine")),
    (assessment(0.3, ["off_edges"], gt_iou=0.5), (True, "replace")),
    (assessment(0.3, ["shifted"]), (True, "replace")),
    (assessment(0.3, ["shifted"], agreement=0.6), (True, "review")),
    (assessment(0.3, ["shifted", "members_disagree"]), (True, "review")),
    (assessment(0.05, ["low_iou", "members_disagree"]), (True, "review")),  # the ensemble is unsure: ask
    (assessment(0.05, ["low_iou"], ensemble_area=0.0001), (True, "drop")),  # nobody sees a usable person
    (assessment(0.05, ["empty_label"], ensemble_area=0.0), (True, "drop")),
    (assessment(0.45, []), (True, "replace")),  # below flag_below without a firing check
])
def test_decision_rules(a, expected):
    assert clean.decide(a, DecideParams()) == expected


def test_learned_decisions_flag_below_the_scorers_threshold_only():
    a = assessment(0.3, ["shifted"])
    assert clean.decide(a, DecideParams(), flag_below=0.2, checks_flag=False) == (False, "keep")  # a firing check alone
    assert clean.decide(a, DecideParams(), flag_below=0.4, checks_flag=False) == (True, "replace")
    weak = Assessment(member_iou={}, agreement=0.9, gt_iou=0.9, gt_boundary_iou=0.5,
                      evidence={"shifted": 0.2, "off_edges": 0.4}, measures={}, label_quality=0.1, flags=[])
    assert clean.reasons(weak) == ["off_edges"]  # flagged with no firing check: the strongest one is the reason
    assert clean.reasons(assessment(0.1, ["box_shaped", "members_disagree"])) == ["box_shaped", "members_disagree"]


def test_self_fitted_scorer_ranks_corrupted_labels_lowest(tiny_store, tmp_path):
    root = tiny_store(n=24, size=(96, 64))
    ids = list(Store(root).samples["id"])
    labels = tmp_path / "labels"

    def shifted(a):
        return np.roll(a, 12, axis=1)

    write_labels(root, labels, corrupt={ids[0]: boxed, ids[1]: shifted, ids[2]: boxed, ids[3]: shifted})
    params = CleanParams(scorer=ScorerParams(mode="self", min_labels=10))
    metrics = clean.run(params, root, labels)
    assert metrics["scorer"] == "self" and metrics["scorer_examples"]["corrupted"] > 0
    assert 0.0 < metrics["flag_threshold"] < 1.0
    q = pd.read_parquet(labels / "quality.parquet").set_index("id")
    assert q.label_quality.between(0.0, 1.0).all()
    assert set(q.label_quality.nsmallest(4).index) == set(ids[:4])
    assert q.loc[ids[:4], "flagged"].all() and all(len(f) for f in q.loc[ids[:4], "flags"])
    # too few clean-looking labels for a fit: the shipped default weights
    small = CleanParams(scorer=ScorerParams(mode="self", min_labels=100))
    assert clean.run(small, root, labels)["scorer"] == "default"


def test_outputs_do_not_depend_on_the_worker_count(tiny_store, tmp_path):
    root = tiny_store(n=24, size=(96, 64))
    ids = list(Store(root).samples["id"])
    labels = tmp_path / "labels"
    write_labels(root, labels, corrupt={ids[0]: boxed, ids[5]: lambda a: np.roll(a, 12, axis=1)})
    frames, metrics = [], []
    for workers in (1, 3):
        metrics.append(clean.run(CleanParams(scorer=ScorerParams(mode="self", min_labels=10), workers=workers),
                                 root, labels))
        frames.append(pd.read_parquet(labels / "quality.parquet"))
    assert metrics[0]["scorer"] == "self" and metrics[0]["scorer_examples"]["corrupted"] > 0
    pd.testing.assert_frame_equal(frames[0], frames[1])  # the scorer's examples arrive in the rows' order
    assert metrics[0] == metrics[1]
    with pytest.raises(ValueError, match="workers"):
        CleanParams(workers=-1)


def test_fit_scorer_writes_weights_that_clean_can_use(tiny_store, tmp_path, repo_root):
    root = tiny_store(n=6, size=(96, 64))
    labels = tmp_path / "labels"
    write_labels(root, labels)
    weights = tmp_path / "scorer.json"
    assert clean.main(["--store", str(root), "--labels", str(labels), "--params", str(repo_root / "params.yaml"),
                       "--fit-scorer", str(weights)]) == 0
    assert not (labels / "quality.parquet").exists()  # fitting only
    params = CleanParams(scorer=ScorerParams(mode="default", weights=str(weights)))
    assert clean.run(params, root, labels)["scorer"] == "default"


def test_refine_decision_writes_a_soft_label(tiny_store, tmp_path):
    root = tiny_store(n=2, size=(96, 64))
    labels = tmp_path / "labels"
    write_labels(root, labels)
    params = CleanParams(decide=DecideParams(flag_below=1.01, refine_flags=["off_edges"], refine_min_iou=0.5),
                         scorer=CHECKS_MODE)
    # every label is 'flagged' (quality < 1.01) without a firing check: the rules say replace...
    clean.run(params, root, labels)
    assert set(pd.read_parquet(labels / "quality.parquet").decision) == {"replace"}
    # ...unless their only flag is a refine flag: force one through a ramp that always fires
    params = CleanParams(quality=QualityParams(ramps={"off_edges": Ramp(-2.0, -1.0)}),
                         decide=DecideParams(refine_flags=["off_edges"], refine_min_iou=0.5), scorer=CHECKS_MODE)
    metrics = clean.run(params, root, labels)
    assert metrics["decisions"]["refine"] == 2
    store = Store(root)
    for row in store.samples.itertuples():
        refined = io.read_mask(labels / "refined" / f"{row.id}.png")
        assert refined.shape == store.alpha(row).shape
        assert ((refined > 0) & (refined < 255)).any()  # soft values at the edge
    clean.run(CleanParams(), root, labels)  # decisions change: no refined label may stay behind
    assert not any((labels / "refined").iterdir())


def test_main_smoke_and_missing_ensemble(tiny_store, tmp_path, repo_root, caplog):
    root = tiny_store(n=3, size=(96, 64))
    labels = tmp_path / "labels"
    with caplog.at_level(logging.ERROR):  # a user error: one line, exit 2
        assert clean.main(["--store", str(root), "--labels", str(labels), "--params",
                           str(repo_root / "params.yaml")]) == 2
    assert "no ensemble/ folder" in caplog.text and "FileNotFoundError" in caplog.text
    write_labels(root, labels)
    metrics_path = tmp_path / "metrics.json"
    assert clean.main(["--store", str(root), "--labels", str(labels), "--params", str(repo_root / "params.yaml"),
                       "--metrics", str(metrics_path)]) == 0
    metrics = json.loads(metrics_path.read_text())
    assert metrics["n"] == 3 and sum(metrics["decisions"].values()) == 3
    assert set(metrics["flags"]) >= {"box_shaped", "members_disagree", "off_edges"}
