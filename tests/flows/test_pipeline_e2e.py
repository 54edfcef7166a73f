"""End to end: the whole `dvc repro` on a tiny configuration in a copy of the repository.

One copy is built per module (a fresh git repo of the tracked and untracked-but-not-ignored files),
with params shrunk so every stage takes seconds. The tests then read its outputs, DVC's view of it,
and run the scheduled-retraining flow in it for real.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from core import io
from flows import dvc

# Shrinks every stage to seconds; merged into the copy's params.yaml (section by section).
TINY: dict = {
    "synthesize": {"count": 48, "clip_count": 1, "clips": {"frames": 3}},
    # enough to learn a person from the background (the retrain test needs a model clearly better
    # than an untrained one), still well under a minute on 2 cores
    # from scratch: the release's weights are for the default input size
    "train": {"epochs": 30, "max_steps": 100, "batch_size": 8, "warmup_steps": 10, "init": "", "lr": 0.003},
    "model": {"input_width": 128, "input_height": 72},  # a quarter of the pixels: ~4x cheaper steps
    # no release champion: the tests decide promotions between their own candidates
    "retrain": {"initial_champion": ""},
    # its own project, so the session's Label Studio server is shared with the labeling tests safely
    "studio": {"project_title": "e2e portrait matting"},
    "export": {"calibration_images": 4, "parity_images": 2},
    "evaluate": {"fps_frames": 2, "fps_sizes": ["640x360"]},
}

DESIGN_SAMPLE_COLUMNS = {"id", "source", "split", "image", "alpha", "ignore", "width", "height", "persons",
                         "label_kind", "origin"}


def _env() -> dict:
    """Subprocess env: this venv's executables first on PATH (stage commands call `python`, `dvc`)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def sh(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(base.get(key, {}), value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return out


def set_params(repo: Path, override: dict) -> None:
    path = repo / "params.yaml"
    path.write_text(yaml.safe_dump(merge(yaml.safe_load(path.read_text()), override), sort_keys=False))


@pytest.fixture(scope="module")
def repo(studio_params, repo_root) -> Path:
    """A copy of the repository with tiny params, after one full `dvc repro`.

    It lies under the test Label Studio server's document root, so a correction round can serve
    its images (the server itself only starts for the test that needs it).
    """
    dst = Path(studio_params.document_root) / "e2e-repo"
    files = sh(repo_root, "git", "ls-files", "--cached", "--others", "--exclude-standard").stdout.split()
    for rel in files:
        if (repo_root / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo_root / rel, dst / rel)
    set_params(dst, TINY)
    sh(dst, "git", "init", "-q")
    sh(dst, "git", "add", "-A")
    sh(dst, "git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "copy")
    sh(dst, "dvc", "repro")
    return dst


def test_outputs_follow_the_contracts(repo):
    for store in sorted((repo / "data" / "stores").iterdir()):
        samples = pd.read_parquet(store / "samples.parquet")
        assert DESIGN_SAMPLE_COLUMNS <= set(samples.columns)
        assert len(samples) > 0, store
        assert all((store / p).is_file() for p in samples["image"]) and all((store / p).is_file() for p in samples["alpha"])
        quality = pd.read_parquet(repo / "data" / "labels" / store.name / "quality.parquet")
        assert set(quality["id"]) == set(samples["id"])
        assert quality["decision"].isin(["keep", "refine", "replace", "review", "drop"]).all()
    composites = pd.read_parquet(repo / "data" / "composites" / "composites.parquet")
    assert len(composites) > 0
    for name in ("matting.pt", "matting.onnx", "matting.int8.onnx"):
        assert (repo / "models" / name).stat().st_size > 0
    metrics = json.loads((repo / "reports" / "eval" / "metrics.json").read_text())
    assert {"n", "iou", "boundary_iou", "mad", "mse", "grad", "conn", "fps"} <= set(metrics)
    assert (repo / "reports" / "index.html").stat().st_size > 10_000


def test_report_renders_offline(repo, chromium):
    page = chromium(repo / "reports" / "index.html")
    assert page["external_requests"] == []
    assert page["images"] > 0 and page["decoded"] == page["images"]
    assert "not found" not in page["text"]  # every section had its stage's output


def test_second_repro_does_nothing(repo):
    assert "up to date" in sh(repo, "dvc", "status").stdout
    out = sh(repo, "dvc", "repro").stdout
    assert "Running stage" not in out


def _ran(out: str) -> set[str]:
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}


def test_one_param_reruns_only_its_dependents(repo):
    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    set_params(repo, {"evaluate": {"worst": params["evaluate"]["worst"] - 1}})
    try:
        changed = set(json.loads(sh(repo, "dvc", "status", "--json").stdout))
        ran = _ran(sh(repo, "dvc", "repro").stdout)
    finally:
        (repo / "params.yaml").write_text(original)
    assert changed == {"evaluate"}
    assert ran == {"evaluate", "report"}
    sh(repo, "dvc", "repro")  # back to the original outputs (from DVC's run cache)
    assert "up to date" in sh(repo, "dvc", "status").stdout


def test_metrics_params_plots_commands(repo):
    files = dvc.metrics(cwd=repo)
    assert files["reports/eval/metrics.json"]["iou"] > 0
    sh(repo, "dvc", "params", "diff")
    template = repo / ".cache" / "dvc_plots_template.html"
    if not template.is_file():
        shutil.copytree(Path(__file__).resolve().parents[2] / ".cache", repo / ".cache", dirs_exist_ok=True)
    sh(repo, sys.executable, "-m", "training", "plots", "--template", str(template), "--out", "plots-out")
    html = (repo / "plots-out" / "index.html").read_text()
    assert "cdn.jsdelivr" not in html and "vega" in html


def test_push_pull_round_trip(repo):
    sh(repo, "dvc", "push")
    curated = repo / "data" / "curated" / "samples.parquet"
    before = curated.read_bytes()
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / "data" / "curated")
    sh(repo, "dvc", "pull")
    assert curated.read_bytes() == before
    assert "up to date" in sh(repo, "dvc", "status").stdout


def test_label_round_resumes_and_merges_corrections(repo, studio_params, studio_server):
    """`python -m flows label-round`: times out waiting for people, then (after an annotator did the
    round through the SDK) resumes, pulls the corrections pixel-exactly and retrains with them."""
    from label_studio_sdk.client import LabelStudio

    from labeling import brush
    from labeling.studio_server import credentials

    token = credentials(studio_params)["token"]
    env = {"LABEL_STUDIO_URL": studio_server.url, "LABEL_STUDIO_API_KEY": token,
           "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(Path(studio_params.document_root).resolve())}
    cmd = [sys.executable, "-m", "flows", "label-round", "--round", "1", "--timeout-h", "0.0005", "--poll-s", "0.5"]
    first = subprocess.run(cmd, cwd=repo, env={**_env(), **env}, capture_output=True, text=True)
    assert first.returncode != 0 and "tasks done after" in first.stdout + first.stderr
    state = json.loads((repo / "reports" / "rounds" / "round-1.json").read_text())
    assert set(state["done"]) == {"push"} and state["done"]["push"]["created"] >= 1

    client = LabelStudio(base_url=studio_server.url, api_key=token)
    project = next(p for p in client.projects.list() if p.title == "e2e portrait matting round 1")
    painted = {}
    for task in client.tasks.list(project=project.id):
        h, w = task.data["height"], task.data["width"]
        mask = np.zeros((h, w), np.uint8)
        mask[h // 4: h, w // 3: 2 * w // 3] = 255  # a person would paint the body; any shape will do
        client.annotations.create(id=task.id, result=[brush.mask_to_region(mask, from_name="mask", to_name="image",
                                                                           label="person")])
        painted[task.data["sample_id"]] = mask

    second = subprocess.run(cmd, cwd=repo, env={**_env(), **env}, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    state = json.loads((repo / "reports" / "rounds" / "round-1.json").read_text())
    assert set(state["done"]) == {"push", "wait", "pull", "retrain"}
    for sid, mask in painted.items():
        pulled = io.read_mask(repo / "data" / "corrections" / "round-1" / f"{sid}.png")
        assert np.array_equal(pulled >= 128, mask >= 128)  # soft only where the ensemble agreed at the edge
    sources = pd.read_parquet(repo / "data" / "curated" / "label_sources.parquet").set_index("id")
    assert set(sources.loc[list(painted), "label_source"]) == {"correction-round-1"}
    assert "up to date" in sh(repo, "dvc", "status").stdout


# A model that has barely trained: clearly worse than TINY's on the same test set.
WEAK = {"train": {"max_steps": 2, "lr": 1.0e-6}}


def _history(repo: Path) -> list[dict]:
    path = repo / "reports" / "retrain" / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _retrain(repo: Path) -> tuple[list[dict], str]:
    """One real run of the retrain flow; returns the history after it and what the run logged."""
    proc = sh(repo, sys.executable, "-m", "flows", "retrain")
    return _history(repo), proc.stdout + proc.stderr


def test_retrain_promotes_only_a_better_model(repo):
    """Real runs of the retrain flow: weak (no champion -> promoted), strong (better -> promoted),
    weak again (worse -> kept, champion untouched), then nothing new (-> nothing to do)."""
    original = (repo / "params.yaml").read_text()
    champion = repo / "models" / "champion" / "matting.onnx"
    set_params(repo, {"retrain": {"pull_corrections": False}})
    no_pull = (repo / "params.yaml").read_text()
    try:
        set_params(repo, WEAK)
        runs, _ = _retrain(repo)
        assert [r["action"] for r in runs] == ["promoted"] and runs[-1]["reason"] == "no champion yet"
        weak_iou = runs[-1]["candidate"]["iou"]

        (repo / "params.yaml").write_text(no_pull)
        runs, _ = _retrain(repo)
        assert runs[-1]["action"] == "promoted", runs[-1]
        assert runs[-1]["candidate"]["iou"] > weak_iou
        strong = champion.read_bytes()
        assert strong == (repo / "models" / "matting.onnx").read_bytes()

        set_params(repo, WEAK)
        runs, _ = _retrain(repo)
        assert runs[-1]["action"] == "kept" and "regressed" in runs[-1]["reason"], runs[-1]
        assert champion.read_bytes() == strong

        again, logged = _retrain(repo)
        assert again == runs  # no new data: no decision recorded
        assert "nothing to do" in logged
    finally:
        (repo / "params.yaml").write_text(original)
