"""Label Studio rounds against a real server (started once per session by `studio_server`)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from core import io
from datasets.store import Store
from labeling import brush, studio
from core.processes import free_port
from labeling.studio import StudioParams
from tests.labeling._people_fixtures import make_store, write_labels, write_params  # noqa: F401

# store "north": sample i gets DECISIONS[i]; the review table tags sample 3 `fix` and sample 5 `approve`
DECISIONS = ["review", "review", "review", "keep", "replace", "review", "review"]


@pytest.fixture(scope="module")
def pushed(studio_server, studio_params, tmp_path_factory):
    """Round 1 pushed through the CLI from two stores under the document root, twice."""
    return _push_round_one(studio_params, tmp_path_factory.mktemp("push"))


def _push_round_one(params: StudioParams, work: Path) -> dict:
    root = Path(params.document_root)
    stores = {}
    for name, decisions, seed in (("north", DECISIONS, 1), ("south", ["review", "keep", "review"], 2)):
        store = make_store(root / "stores" / name, name, len(decisions), seed)
        labels = root / "labels" / name
        write_labels(store, labels, decisions, seed=seed, hard_ensemble=(name == "south"))
        stores[name] = (store, labels)
    north_ids = list(Store(stores["north"][0]).samples["id"])
    review = work / "review.parquet"
    io.write_parquet(review, pd.DataFrame({"id": [north_ids[3], north_ids[5]], "tag": ["fix", "approve"]}))
    params_file = write_params(work / "params.yaml", studio=params)
    argv = ["push", "--round", "1", "--params", str(params_file), "--review", str(review)]
    for store, labels in stores.values():
        argv += ["--store", str(store), "--labels", str(labels)]
    first, second = work / "first.json", work / "second.json"
    assert studio.main(argv + ["--metrics", str(first)]) == 0
    assert studio.main(argv + ["--metrics", str(second)]) == 0
    return {"stores": stores, "north": north_ids, "params_file": params_file,
            "first": json.loads(first.read_text()), "second": json.loads(second.read_text())}


def _tasks(params: StudioParams) -> dict[tuple[str, str], object]:
    client = studio.connect(params)
    project = studio.find_project(client, studio.project_title(params, 1))
    return {studio.task_key(t.data): t for t in client.tasks.list(project=project.id, fields="all")}


def test_push_selects_review_and_fix_not_approved(pushed, studio_params):
    north = pushed["north"]
    keys = set(_tasks(studio_params))
    # north: review samples 0,1,2,6 + sample 3 tagged fix; sample 5 (review) was approved; south: 0 and 2
    expected = {("north", north[i]) for i in (0, 1, 2, 3, 6)} | {("south", s) for s in
                                                                  Store(pushed["stores"]["south"][0]).samples["id"][[0, 2]]}
    assert keys == expected
    assert pushed["first"]["created"] == len(expected)


def test_push_twice_creates_no_duplicates(pushed, studio_params):
    assert pushed["second"]["created"] == 0
    assert pushed["second"]["already_pushed"] == pushed["first"]["created"]
    client = studio.connect(studio_params)
    project = studio.find_project(client, studio.project_title(studio_params, 1))
    tasks = list(client.tasks.list(project=project.id))
    assert len(tasks) == len({studio.task_key(t.data) for t in tasks}) == pushed["first"]["created"]


def test_tasks_carry_the_ensemble_prediction_and_a_served_image(pushed, studio_params):
    store, labels = pushed["stores"]["north"]
    sid = pushed["north"][0]
    task = _tasks(studio_params)[("north", sid)]
    (prediction,) = task.predictions
    assert prediction.model_version == "ensemble[mediapipe-selfie+sinet]"
    (result,) = prediction.result
    ensemble = io.read_mask(labels / "ensemble" / f"{sid}.png")
    np.testing.assert_array_equal(brush.rle_to_mask(result["value"]["rle"], 32, 40) >= 128, ensemble >= 128)
    token = studio.api_token(studio_params)
    reply = requests.get(studio.server_url(studio_params) + task.data["image"],
                         headers={"Authorization": f"Token {token}"}, timeout=30)
    assert reply.status_code == 200
    assert reply.content == (store / "images" / f"{sid}.png").read_bytes()


def test_pull_merges_regions_skips_and_takes_the_latest(pushed, studio_params, tmp_path):
    north = pushed["north"]
    tasks = _tasks(studio_params)
    client = studio.connect(studio_params)
    top, left = np.zeros((32, 40), np.uint8), np.zeros((32, 40), np.uint8)
    top[2:12, 5:30] = 255
    left[8:32, 0:14] = 255
    region = lambda m: brush.mask_to_region(m, from_name="mask", to_name="image", label="person")  # noqa: E731
    # sample 0: one annotation, two regions; sample 1: skipped; sample 2: two annotations, the later wins;
    # sample 3: submitted with no region; sample 6 and south: nobody touched them
    client.annotations.create(id=tasks[("north", north[0])].id, result=[region(top), region(left)], lead_time=12.5)
    client.annotations.create(id=tasks[("north", north[1])].id, result=[], was_cancelled=True)
    first = client.annotations.create(id=tasks[("north", north[2])].id, result=[region(left)])
    latest = client.annotations.create(id=tasks[("north", north[2])].id, result=[region(top)])
    client.annotations.create(id=tasks[("north", north[3])].id, result=[])
    out = tmp_path / "corrections" / "round-1"
    assert studio.main(["pull", "--round", "1", "--out", str(out), "--params", str(pushed["params_file"])]) == 0

    table = pd.read_parquet(out / "corrections.parquet").set_index("id")
    assert sorted(p.stem for p in out.glob("*.png")) == sorted([north[0], north[2]])
    assert table.loc[north[0], "status"] == "corrected" and table.loc[north[0], "regions"] == 2
    assert table.loc[north[0], "lead_time"] == 12.5
    assert table.loc[north[1], "status"] == "skipped"
    assert table.loc[north[3], "status"] == "empty"
    assert table.loc[north[6], "status"] == "pending"
    assert table.loc[north[2], "annotation"] == latest.id
    assert table.loc[north[2], "choice"] == f"latest of 2 submitted (also {first.id})"
    assert table.loc[north[0], "annotator"] == "annotator@localhost.localdomain"
    assert set(table["store"]) == {"north", "south"} and set(table["round"]) == {1}

    labels = pushed["stores"]["north"][1]
    for sid, painted in ((north[0], np.maximum(top, left)), (north[2], top)):
        alpha = io.read_mask(out / f"{sid}.png")
        ensemble = io.read_mask(labels / "ensemble" / f"{sid}.png")
        np.testing.assert_array_equal(alpha >= 128, painted == 255)  # the person's mask, pixel for pixel
        soft = (alpha > 0) & (alpha < 255)
        np.testing.assert_array_equal(alpha[soft], ensemble[soft])  # soft values only from the ensemble
        assert table.loc[sid, "soft_pixels"] == np.count_nonzero(soft)
    assert table.loc[north[0], "soft_pixels"] > 0  # the soft ensemble edge survived where it agreed

    # pulling again (the newest round via --latest) gives the same files
    again = tmp_path / "again"
    assert studio.main(["pull", "--latest", "--out", str(again), "--params", str(pushed["params_file"])]) == 0
    for path in out.glob("*.png"):
        assert (again / "round-1" / path.name).read_bytes() == path.read_bytes()


def test_pull_of_a_round_never_pushed_is_a_clear_error(studio_server, pushed, tmp_path, caplog):
    out = tmp_path / "round-9"
    with caplog.at_level(logging.ERROR):
        assert studio.main(["pull", "--round", "9", "--out", str(out), "--params", str(pushed["params_file"])]) == 2
    assert "no Label Studio project 'portrait matting round 9'" in caplog.text
    assert not out.exists()


def test_server_down_is_a_clear_error_and_writes_nothing(studio_params, tmp_path, caplog, monkeypatch):
    down = StudioParams(**{**studio_params.__dict__, "port": free_port(), "document_root": str(tmp_path)})
    params_file = write_params(tmp_path / "params.yaml", studio=down)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "0" * 40)
    out = tmp_path / "corrections" / "round-1"
    with caplog.at_level(logging.ERROR):
        assert studio.main(["pull", "--round", "1", "--out", str(out), "--params", str(params_file)]) == 2
    assert f"Label Studio at http://127.0.0.1:{down.port} does not answer" in caplog.text
    assert "studio serve" in caplog.text
    assert not out.exists()
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        store = make_store(tmp_path / "stores" / "x", "x", 2, seed=5)
        write_labels(store, tmp_path / "labels" / "x", ["review", "review"])
        assert studio.main(["push", "--round", "1", "--store", str(store), "--labels", str(tmp_path / "labels" / "x"),
                            "--params", str(params_file)]) == 2
    assert "does not answer" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR):  # a folder that is no store: said before any server is asked
        assert studio.main(["push", "--round", "1", "--store", str(tmp_path), "--labels", str(tmp_path),
                            "--params", str(params_file)]) == 2
    assert "not a sample store" in caplog.text


def test_serve_refuses_a_taken_port_and_a_missing_server(studio_server, studio_params, tmp_path, caplog):
    taken = write_params(tmp_path / "taken.yaml", studio=studio_params)  # the session's server holds the port
    with caplog.at_level(logging.ERROR):
        assert studio.main(["serve", "--params", str(taken)]) == 2
    assert f"port {studio_params.port} on 127.0.0.1 is in use" in caplog.text
    missing = StudioParams(**{**studio_params.__dict__, "server_bin": str(tmp_path / "no-label-studio")})
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert studio.main(["serve", "--params", str(write_params(tmp_path / "missing.yaml", studio=missing))]) == 2
    assert "no Label Studio server" in caplog.text and "studio.server_bin" in caplog.text
