"""Golden tests of Label Studio's pure converters (task JSON, annotation choice): no server."""
from __future__ import annotations

from types import SimpleNamespace
from xml.etree import ElementTree

from labeling import corrections, studio


def ann(id_, updated, cancelled=False, result=()):
    return {"id": id_, "updated_at": updated, "created_at": updated, "was_cancelled": cancelled,
            "result": list(result)}


def test_latest_submitted_annotation_wins_and_the_choice_is_said():
    chosen, status, choice = corrections.choose_annotation([ann(7, "2026-01-02T10:00:00Z"),
                                                       ann(5, "2026-01-02T11:00:00Z"),
                                                       ann(9, "2026-01-03T09:00:00Z", cancelled=True)])
    assert (chosen["id"], status) == (5, "annotated")
    assert choice == "latest of 2 submitted (also 7); 1 skipped/cancelled ignored"


def test_same_time_falls_back_to_the_higher_id():
    chosen, _, _ = corrections.choose_annotation([ann(4, "2026-01-02T10:00:00Z"), ann(3, "2026-01-02T10:00:00Z")])
    assert chosen["id"] == 4


def test_only_skipped_is_skipped_and_none_is_pending():
    assert corrections.choose_annotation([ann(1, "t", cancelled=True)]) == (None, "skipped",
                                                                       "1 skipped/cancelled, none submitted")
    assert corrections.choose_annotation([]) == (None, "pending", "no annotation")
    assert corrections.choose_annotation([ann(2, "t")])[1:] == ("annotated", "only submitted annotation")


def test_sample_task_golden():
    row = SimpleNamespace(id="0123456789abcdef", width=64, height=48, decision="review",
                          flags=["member_disagree"], label_quality=0.25)
    prediction = {"model_version": "ensemble[a+b]", "result": []}
    task = studio.sample_task(row, store="coco train", round_no=3, image_ref="stores/coco train/images/x y.png",
                              ensemble_ref="labels/coco/ensemble/0123456789abcdef.png", prediction=prediction)
    assert task == {
        "data": {"image": "/data/local-files/?d=stores/coco%20train/images/x%20y.png",
                 "sample_id": "0123456789abcdef", "store": "coco train", "round": 3, "width": 64, "height": 48,
                 "ensemble": "labels/coco/ensemble/0123456789abcdef.png", "decision": "review",
                 "flags": ["member_disagree"], "label_quality": 0.25,
                 "info": "coco train / 0123456789abcdef: review (member_disagree)"},
        "predictions": [prediction]}
    assert studio.task_key(task["data"]) == ("coco train", "0123456789abcdef")


def test_label_config_is_brush_labels_on_the_image():
    root = ElementTree.fromstring(studio.label_config("person"))
    brush = root.find("BrushLabels")
    assert (brush.get("name"), brush.get("toName")) == (studio.FROM_NAME, studio.TO_NAME)
    assert [label.get("value") for label in brush.findall("Label")] == ["person"]
    assert root.find("Image").get("name") == studio.TO_NAME
