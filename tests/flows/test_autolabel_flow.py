"""The autolabel flow on a real local two-worker Dask cluster (127.0.0.1) under ephemeral Prefect:
the same files as the stage, sessions created once per worker, not per batch."""
from __future__ import annotations

import dataclasses
import os

import pytest

from core.config import load_section
from datasets.store import Store
from labeling import autolabel
from labeling.autolabel import AutolabelParams

MEMBERS = ["mediapipe-landscape", "prisma"]


@pytest.fixture
def params(repo_root, shared_dir):
    p = load_section("autolabel", AutolabelParams, repo_root / "params.yaml")
    return dataclasses.replace(p, model_dir=str(shared_dir / "models"), members=MEMBERS, batch_size=1, workers=2)


@pytest.fixture
def dask_cluster(repo_root):
    from distributed import LocalCluster

    env = {"PYTHONPATH": os.pathsep.join([str(repo_root), os.environ.get("PYTHONPATH", "")])}
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, env=env)
    try:
        yield cluster
    finally:
        cluster.close()


def test_flow_on_a_dask_cluster_matches_the_stage(tiny_store, tmp_path, params, dask_cluster):
    from flows.autolabel import run_flow

    root = tiny_store(n=6, size=(96, 64))
    autolabel.run(params, root, tmp_path / "stage")
    metrics = run_flow(dataclasses.replace(params, runner=dask_cluster.scheduler_address), root, tmp_path / "flow")
    assert metrics["n"] == 6 and metrics["members"] == MEMBERS
    pids = {w.split(":")[0] for w in metrics["workers"]}
    assert len(pids) == 2 and str(os.getpid()) not in pids  # both worker processes did work, not this one
    # six batches over two workers: each worker built its two sessions once
    assert metrics["sessions_per_worker"] == len(MEMBERS)
    stage_files = sorted(p.relative_to(tmp_path / "stage") for p in (tmp_path / "stage").rglob("*.png"))
    assert stage_files == sorted(p.relative_to(tmp_path / "flow") for p in (tmp_path / "flow").rglob("*.png"))
    for rel in stage_files:
        assert (tmp_path / "stage" / rel).read_bytes() == (tmp_path / "flow" / rel).read_bytes()
    assert len(stage_files) == 6 * (len(MEMBERS) + 2)


def test_flow_on_threads_and_bad_runner(tiny_store, tmp_path, params):
    from flows.autolabel import run_flow, task_runner

    root = tiny_store(n=2, size=(96, 64))
    metrics = run_flow(dataclasses.replace(params, members=["mediapipe-landscape"], runner="threads"), root,
                       tmp_path / "labels")
    assert metrics["n"] == 2 and len(list((tmp_path / "labels" / "ensemble").glob("*.png"))) == 2
    assert set(Store(root).samples["id"]) == {p.stem for p in (tmp_path / "labels" / "ensemble").iterdir()}
    with pytest.raises(ValueError, match="autolabel.runner"):
        task_runner("kubernetes", 2)
