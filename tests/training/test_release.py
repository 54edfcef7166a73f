"""`python -m training release`: weights only, the ONNX as evaluated, a model card built from the run's files."""
from __future__ import annotations

import yaml

from training.__main__ import main as training_main
from training.checkpoint import load_model, read_checkpoint, save_checkpoint


def _fake_lock(path, run):
    path.write_text(yaml.safe_dump({"schema": "2.0", "stages": {
        "curate": {"cmd": "x", "outs": [{"path": f"{run}/data/curated", "hash": "md5", "md5": "abc123.dir"}]},
        "other": {"cmd": "y", "outs": [{"path": "elsewhere/x", "hash": "md5", "md5": "zzz"}]}}}))


def test_release_writes_weights_onnx_and_card(tiny_checkpoint, tiny_store, params_file, tmp_path, caplog):
    run = tmp_path / "release"
    ckpt = tiny_checkpoint()
    (run / "models").mkdir(parents=True)
    state = read_checkpoint(ckpt)
    save_checkpoint(run / "models" / "matting.pt", {**state, "step": 40, "epoch": 4,  # as training leaves it
                                                    "metrics": {"val/iou": 0.8123, "val/mad": 31.46}})
    params = params_file(sources={"tiny": {"format": "voc", "src": "somewhere"}})
    onnx = run / "models" / "matting.onnx"
    assert training_main(["export", "--checkpoint", str(ckpt), "--onnx", str(onnx), "--params", str(params)]) == 0
    # a real evaluation of the tiny model beside MediaPipe on a tiny test split
    store = tiny_store(n=6)
    testset = tmp_path / "testset"
    assert training_main(["testset", "--store", str(store), "--out", str(testset)]) == 0
    assert training_main(["evaluate", "--model", str(onnx), "--images", str(testset / "images"), "--masks",
                          str(testset / "masks"), "--out", str(run / "reports" / "eval" / "tiny"), "--params",
                          str(params), "--baselines", "mediapipe-selfie"]) == 0
    _fake_lock(run / "dvc.lock", run)
    ablation = tmp_path / "ABLATION.md"
    ablation.write_text("| change | val IoU |\n|---|---|\n| webcam crops | +0.1 |\n")
    out = tmp_path / "weights"
    assert training_main(["release", "--run", str(run), "--params", str(params), "--splits", "tiny",
                          "--ablation", str(ablation), "--out", str(out)]) == 0

    state = read_checkpoint(out / "matting.pt")
    assert set(state) == {"model_args", "model"}  # weights only: no optimizer, no config
    assert load_model(out / "matting.pt").model_args() == load_model(ckpt).model_args()
    assert (out / "matting.onnx").read_bytes() == onnx.read_bytes()
    card = (out / "MODEL_CARD.md").read_text()
    assert "### tiny" in card and "mediapipe-selfie" in card and "matting.onnx (ours)" in card
    assert f"`{run}/data/curated` | `abc123.dir`" in card and "zzz" not in card
    assert "| webcam crops | +0.1 |" in card and "make release" in card
    assert "40 optimizer steps" in card and "(5 epochs)" in card and "IoU 0.8123 and MAD 31.5" in card

    # a checkpoint without validation figures: no card with made-up ones
    save_checkpoint(run / "models" / "matting.pt", state)
    assert training_main(["release", "--run", str(run), "--params", str(params), "--splits", "tiny",
                          "--out", str(tmp_path / "weights2")]) == 2
    assert any("no validation figures" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")

    # no evaluation of a named split: a clear error naming the file
    assert training_main(["release", "--run", str(run), "--params", str(params), "--splits", "missing",
                          "--out", str(out)]) == 2
    assert any("eval/missing/comparison.json" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
