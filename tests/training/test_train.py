"""Training smoke through main([...]): a couple of steps, DVCLive files, checkpoint contents, resume."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from training.__main__ import main as training_main
from training.checkpoint import file_sha256 as read_sha, load_model, read_checkpoint
from training.train import lr_factor


def test_train_and_resume(tiny_store, tiny_composites, params_file, tmp_path):
    store, composites = tiny_store(n=6), tiny_composites(n=6)
    params = params_file(train={"epochs": 1, "batch_size": 2})
    out, live = tmp_path / "models" / "matting.pt", tmp_path / "live"
    argv = ["train", "--store", str(store), "--composites", str(composites), "--out", str(out),
            "--live-dir", str(live), "--params", str(params), "--metrics", str(tmp_path / "m.json")]
    assert training_main(argv) == 0
    state = read_checkpoint(out)
    assert state["epoch"] == 0 and state["step"] == 2  # 4 training items / batch 2
    assert state["model_args"]["input_width"] == 64 and state["config"]["train"]["batch_size"] == 2
    assert load_model(out)(torch.rand(1, 3, 40, 64)).shape == (1, 1, 40, 64)
    figures = json.loads((tmp_path / "m.json").read_text())
    assert figures["steps"] == 2 and figures["val_items"] == 4 and "val_iou" in figures
    assert (live / "metrics.json").is_file() and (live / "plots" / "metrics" / "train" / "total.tsv").is_file()
    assert not (live / "dvc.yaml").exists() and not (tmp_path / "dvc.yaml").exists()

    # resume: one more epoch continues the step count and the DVCLive step
    params = params_file(train={"epochs": 2, "batch_size": 2})
    assert training_main(argv[:-4] + ["--params", str(params), "--resume"]) == 0
    state = read_checkpoint(out)
    assert state["epoch"] == 1 and state["step"] == 4
    rows = (live / "plots" / "metrics" / "train" / "total.tsv").read_text().strip().splitlines()
    assert [r.split("\t")[0] for r in rows[1:]] == ["0", "1"]

    # the finished run resumed again with its metrics folder gone (DVC removes a stage's outputs before
    # rerunning it): nothing trains, and the metrics are the checkpoint's last figures, not a bare step
    shutil.rmtree(live)
    assert training_main(argv[:-4] + ["--params", str(params), "--resume"]) == 0
    assert read_checkpoint(out)["step"] == 4
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["val"]["iou"] == pytest.approx(state["metrics"]["val/iou"])


def test_resume_refuses_other_model_args(tiny_store, params_file, tmp_path, caplog):
    store = tiny_store(n=3)
    out = tmp_path / "m.pt"
    base = ["train", "--store", str(store), "--out", str(out)]
    assert training_main(base + ["--params", str(params_file(train={"epochs": 1, "batch_size": 1}))]) == 0
    other = params_file(model={"stem_channels": 4}, train={"epochs": 2, "batch_size": 1})
    assert training_main(base + ["--params", str(other), "--resume"]) == 2
    assert "cannot resume" in caplog.text


def test_resume_continues_only_a_run_from_the_same_starting_weights(tiny_store, params_file, tmp_path, caplog):
    """`make release` keeps its checkpoint (DVC persist) and resumes it: once the release it started from is
    replaced, resuming would merely repeat the finished cycle, so a run from the new weights starts instead."""
    store, init, out = tiny_store(n=3), tmp_path / "release.pt", tmp_path / "m.pt"
    argv = ["train", "--store", str(store), "--out", str(out), "--resume"]
    scratch = params_file(train={"epochs": 1, "batch_size": 1})
    assert training_main(argv[:-1] + ["--out", str(init), "--params", str(scratch)]) == 0  # "release 1"
    params = params_file(train={"init": str(init), "epochs": 1, "batch_size": 1})
    assert training_main(argv + ["--params", str(params)]) == 0
    first = read_checkpoint(out)
    assert first["step"] >= 1 and first["config"]["init_sha256"] == read_sha(init)
    assert training_main(argv + ["--params", str(params)]) == 0  # same starting weights: the finished run stays
    assert "not resumed" not in caplog.text
    assert same_weights(read_checkpoint(out)["model"], first["model"])

    shutil.copy(out, init)  # the run became the release the next cycle starts from
    assert training_main(argv + ["--params", str(params)]) == 0
    assert "not resumed: it started from other weights" in caplog.text
    second = read_checkpoint(out)
    assert second["step"] == first["step"] and second["config"]["init_sha256"] == read_sha(init) != first["config"]["init_sha256"]
    assert not same_weights(second["model"], first["model"])


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_needs_data(params_file, tmp_path, caplog):
    assert training_main(["train", "--out", str(tmp_path / "m.pt"), "--params", str(params_file())]) == 2
    assert "no training data" in caplog.text


def test_lr_schedule():
    assert lr_factor(0, 100, 10, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, 0.1) == pytest.approx(1.0)
    assert lr_factor(100, 100, 10, 0.1) == pytest.approx(0.1)


def test_store_samples_repeat_composites_do_not(tiny_store, tiny_composites):
    from training.train import _items

    store, composites = tiny_store(n=6), tiny_composites(n=6)
    items = _items([store], [composites], "train", None, repeat=3)
    assert sum(i.kind == "store" for i in items) == 3 * 2 and sum(i.kind == "composite" for i in items) == 2


def test_source_repeat_draws_a_named_source_more_often_and_refuses_unknown_names(tiny_store, params_file,
                                                                                  tmp_path, caplog):
    from training.train import _items

    street = tiny_store(n=12, source="street", root=tmp_path / "street")
    faces = tiny_store(n=12, source="faces", seed=1, root=tmp_path / "faces")
    plain = _items([street, faces], [], "train", None, repeat=2)
    items = _items([street, faces], [], "train", None, repeat=2, source_repeat={"faces": 5})
    count = lambda its, source: sum(i.source == source for i in its)  # noqa: E731
    assert count(items, "street") == count(plain, "street") > 0
    assert count(items, "faces") == 5 * count(plain, "faces") // 2 > 0
    assert items[:count(plain, "street") // 2] == plain[:count(plain, "street") // 2]  # same order as before

    bad = params_file(train={"source_repeat": {"fcaes": 3}})
    rc = training_main(["train", "--store", str(street), "--store", str(faces), "--out", str(tmp_path / "m.pt"),
                        "--params", str(bad)])
    assert rc == 2 and not (tmp_path / "m.pt").exists()
    assert "['fcaes']" in caplog.text and "['faces', 'street']" in caplog.text


def test_prior_channel_consistency_and_distillation(tiny_store, tiny_composites, params_file, tmp_path):
    import numpy as np
    import pandas as pd

    from core import io

    store, composites = tiny_store(n=6), tiny_composites(n=6)
    teacher = tmp_path / "labels" / "ensemble"
    for sid in pd.read_parquet(store / "samples.parquet")["id"]:
        io.write_png(teacher / f"{sid}.png", np.full((64, 96), 128, np.uint8))
    params = params_file(model={"in_channels": 4},
                         train={"epochs": 1, "loss": {"consistency": 0.5, "distill": 0.5}})
    out = tmp_path / "m.pt"
    assert training_main(["train", "--store", str(store), "--composites", str(composites), "--teacher", str(teacher),
                          "--out", str(out), "--params", str(params), "--metrics", str(tmp_path / "m.json")]) == 0
    figures = json.loads((tmp_path / "m.json").read_text())
    assert figures["train_consistency"] >= 0 and figures["train_distill"] > 0
    assert read_checkpoint(out)["model_args"]["in_channels"] == 4


def test_ema_checkpoint_holds_the_average_and_resumes_the_trained_weights(tiny_store, params_file, tmp_path):
    store, init, out = tiny_store(n=6), tmp_path / "init.pt", tmp_path / "m.pt"
    scratch = params_file(train={"epochs": 1, "batch_size": 2})
    assert training_main(["train", "--store", str(store), "--out", str(init), "--params", str(scratch)]) == 0
    argv = ["train", "--store", str(store), "--out", str(out), "--resume"]
    params = params_file(train={"init": str(init), "epochs": 4, "batch_size": 2, "lr": 0.01, "ema": 0.99,
                                "freeze_norm": False})
    assert training_main(argv + ["--params", str(params)]) == 0
    state, start = read_checkpoint(out), read_checkpoint(init)["model"]
    assert set(state) >= {"model", "train_model"} and state["step"] >= 2

    def distance(weights):
        return sum(float((weights[k] - start[k]).norm()) for k in start if "running_" not in k and start[k].is_floating_point())

    # at decay 0.99 the average (from the first step's weights on) lags behind the trained weights
    assert 0 < distance(state["model"]) < 0.7 * distance(state["train_model"])
    assert load_model(out).state_dict().keys() == state["model"].keys()  # export / evaluate read the average

    # resume: training continues from the trained weights, the average from the saved average
    more = params_file(train={"init": str(init), "epochs": 6, "batch_size": 2, "lr": 0.01, "ema": 0.99,
                              "freeze_norm": False})
    assert training_main(argv + ["--params", str(more)]) == 0
    resumed = read_checkpoint(out)
    assert resumed["step"] > state["step"]
    assert 0 < distance(resumed["model"]) < 0.7 * distance(resumed["train_model"])
    assert distance(resumed["train_model"]) > distance(state["train_model"])
    plain = params_file(train={"epochs": 1, "batch_size": 2})
    assert training_main(["train", "--store", str(store), "--out", str(tmp_path / "p.pt"), "--params", str(plain)]) == 0
    assert "train_model" not in read_checkpoint(tmp_path / "p.pt")  # ema 0: one set of weights
    with pytest.raises(Exception, match="train.ema"):
        from training.train import TrainParams
        TrainParams(ema=1.5)
