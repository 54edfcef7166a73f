"""The release recipe's parts: train.init, webcam framing crops, OHEM, JPEG, torchrun (2 gloo processes)."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training.__main__ import main as training_main
from training.checkpoint import init_from, load_model, read_checkpoint, save_weights
from training.data import AugmentParams, crop_matrix, draw_augment, person_box, photometric, warp
from training.losses import LossParams, MattingLoss, ohem_bce_loss
from training.model import MattingNet, ModelConfig
from training.model.blocks import SqueezeExcite

ROOT = Path(__file__).resolve().parents[2]


def test_init_starts_from_weights_and_names_what_differs(tiny_store, params_file, tiny_model_args, tmp_path,
                                                         caplog):
    init = tmp_path / "release.pt"
    torch.manual_seed(123)
    model = MattingNet(ModelConfig(**tiny_model_args))
    save_weights(init, model)
    assert set(read_checkpoint(init)) == {"model_args", "model"}  # weights only
    store, out = tiny_store(n=3), tmp_path / "m.pt"
    # zero steps: the checkpoint holds exactly the initial weights
    params = params_file(train={"init": str(init), "epochs": 1, "max_steps": 1, "lr": 1e-12, "warmup_steps": 1})
    assert training_main(["train", "--store", str(store), "--out", str(out), "--params", str(params)]) == 0
    convs = [k for k, v in model.state_dict().items() if v.ndim == 4]
    trained = load_model(out).state_dict()
    assert all(torch.allclose(trained[k], model.state_dict()[k], atol=1e-6) for k in convs)
    fresh = MattingNet(ModelConfig(**tiny_model_args)).state_dict()  # another draw: the init mattered
    assert not all(torch.allclose(fresh[k], model.state_dict()[k]) for k in convs)

    other = params_file(model={"stem_channels": 4}, train={"init": str(init), "epochs": 1})
    caplog.clear()
    assert training_main(["train", "--store", str(store), "--out", str(out), "--params", str(other)]) == 2
    assert re.search(r"release\.pt: `train\.init` is incompatible.*stem_channels: 8 in the file vs 4 in params",
                     caplog.text)
    missing = params_file(train={"init": str(tmp_path / "nope.pt"), "epochs": 1})
    assert training_main(["train", "--store", str(store), "--out", str(out), "--params", str(missing)]) == 2
    assert re.search(r"nope\.pt: `train\.init` names no such file", caplog.text)


def test_init_deepens_the_encoder_and_keeps_what_the_file_computes(tiny_model_args, tmp_path):
    init = tmp_path / "release.pt"
    torch.manual_seed(5)
    shallow = MattingNet(ModelConfig(**tiny_model_args))
    for m in shallow.modules():  # non-trivial BatchNorm statistics, as a trained model has
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    save_weights(init, shallow)
    depths = list(tiny_model_args["enc_depths"])
    grown = [d + (1 if i >= len(depths) - 2 else 0) for i, d in enumerate(depths)]
    deep = MattingNet(ModelConfig(**{**tiny_model_args, "enc_depths": grown}))
    init_from(deep, init)
    x = torch.rand(2, 3, tiny_model_args["input_height"], tiny_model_args["input_width"])
    with torch.no_grad():
        assert torch.allclose(deep.eval()(x), shallow.eval()(x), atol=1e-6)  # same function as the file
    added = deep.encoder.stages[-1][grown[-1] - 1]
    assert not added.body[-1].weight.any() and added.body[0].weight.abs().sum() > 0  # identity by its last norm only
    deep.train()
    out, _ = deep(x, logits=True)
    out.mean().backward()
    assert added.body[-1].weight.grad.abs().sum() > 0  # and it learns
    save_weights(tmp_path / "deep.pt", deep)  # and back: a shallower model cannot take deeper weights
    with pytest.raises(ValueError, match=r"deep\.pt.*enc_depths: \[.*\] in the file vs .*may only grow"):
        init_from(MattingNet(ModelConfig(**tiny_model_args)), tmp_path / "deep.pt")


def test_init_takes_the_weights_at_another_input_size(tiny_model_args, tmp_path, caplog):
    torch.manual_seed(3)
    small = MattingNet(ModelConfig(**tiny_model_args))
    save_weights(tmp_path / "release.pt", small)
    w, h = tiny_model_args["input_width"], tiny_model_args["input_height"]
    larger = MattingNet(ModelConfig(**{**tiny_model_args, "input_width": w + 32, "input_height": h + 16}))
    with caplog.at_level(logging.INFO, logger="training.checkpoint"):
        init_from(larger, tmp_path / "release.pt")
    assert f"input size {w}x{h} -> {w + 32}x{h + 16}" in caplog.text
    x = torch.rand(1, 3, h + 16, w + 32)  # the same function at any size: only what it is fine-tuned at changes
    with torch.no_grad():
        assert torch.equal(larger.eval()(x), small.eval()(x))
    other = MattingNet(ModelConfig(**{**tiny_model_args, "input_width": w + 32, "stem_channels": 4}))
    with pytest.raises(ValueError, match=r"stem_channels: 8 in the file vs 4") as err:
        init_from(other, tmp_path / "release.pt")
    assert "input_width" not in str(err.value)  # only what really stops it is named


def test_webcam_framing_puts_the_head_near_the_top_and_cuts_the_body():
    # a standing person: 100 px wide, head at y=50, feet at y=790, in a 550x830 photo
    alpha = np.zeros((830, 550), np.uint8)
    alpha[50:790, 225:325] = 255
    box = person_box(alpha)
    assert box == (225.0, 50.0, 325.0, 790.0)
    p = AugmentParams(person_crop=1.0, person_width=(2.0, 2.0), person_top=(0.1, 0.1), shift=0.0, rotate=0.0,
                      aspect=0.0, flip=0.0)
    d = draw_augment(np.random.default_rng(0), p)
    assert d.person
    out = warp(alpha, crop_matrix(830, 550, 256, 144, d, box), 256, 144)
    rows = np.nonzero(out.max(axis=1) >= 128)[0]
    assert 10 <= rows[0] <= 18  # head 10% of the box below its top edge
    assert rows[-1] == 143  # cut by the bottom edge (chest-to-hips of a 740 px tall person)
    cols = np.nonzero(out.max(axis=0) >= 128)[0]
    assert 120 <= cols[-1] - cols[0] + 1 <= 136  # person width = half the box = 128 px
    # without a person box (an empty alpha) the draw falls back to the whole-image view
    assert person_box(np.zeros((8, 8), np.uint8)) is None
    assert np.allclose(crop_matrix(830, 550, 256, 144, d, None),
                       crop_matrix(830, 550, 256, 144, dataclasses.replace(d, person=False), None))
    assert not np.allclose(crop_matrix(830, 550, 256, 144, d, box), crop_matrix(830, 550, 256, 144, d, None))


def test_ohem_averages_the_hardest_pixels_only():
    logits = torch.zeros(1, 1, 2, 5)
    true = torch.zeros(1, 1, 2, 5)
    true[0, 0, 0, 0] = 1.0  # one wrong pixel among ten (BCE log 2 each at logit 0 either way)
    logits[0, 0, 1] = -10.0  # five confident, right pixels: ~0 loss
    hard = ohem_bce_loss(logits, true, 0.5)
    assert float(hard) == pytest.approx(np.log(2.0), rel=1e-4)  # the five logit-0 pixels
    assert float(ohem_bce_loss(logits, true, 1.0)) < float(hard)
    with pytest.raises(ValueError, match="ohem_ratio"):
        ohem_bce_loss(logits, true, 0.0)
    terms = MattingLoss(LossParams(ohem=1.0, ohem_ratio=0.5))(logits, true)
    assert "ohem" in terms and float(terms["total"]) > float(MattingLoss(LossParams())(logits, true)["total"])


def test_jpeg_round_trip_changes_the_image_but_keeps_its_range():
    rng = np.random.default_rng(0)
    d = draw_augment(rng, AugmentParams(jpeg=1.0, brightness=0, contrast=0, saturation=0, hue=0, blur=0, noise=0))
    assert 40 <= d.jpeg_quality <= 90
    image = rng.random((32, 48, 3)).astype(np.float32)
    out = photometric(image, d, rng)
    assert out.shape == image.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert np.abs(out - image).mean() > 0.01


def _torchrun_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                          "MASTER_PORT")}
    env["PYTHONPATH"] = str(ROOT)
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_torchrun_two_gloo_processes_train_one_model(tiny_store, params_file, tmp_path):
    store, out = tiny_store(n=24), tmp_path / "ddp.pt"
    params = params_file(train={"epochs": 2, "batch_size": 2, "threads": 1})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "training", "train", "--store", str(store), "--out", str(out), "--params", str(params),
           "--metrics", str(tmp_path / "m.json")]
    result = subprocess.run(cmd, cwd=ROOT, env=_torchrun_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    state = read_checkpoint(out)
    # 8 training items, 2 processes x batch 2 = 4 per step: 2 steps per epoch
    assert state["epoch"] == 1 and state["step"] == 4
    figures = json.loads((tmp_path / "m.json").read_text())
    assert figures["processes"] == 2 and "val_iou" in figures
    assert result.stderr.count("distributed: 2 processes (gloo)") == 1  # rank 0 alone logs


def test_world_size_without_rendezvous_is_a_clear_error(tiny_store, params_file, tmp_path):
    env = _torchrun_env() | {"WORLD_SIZE": "2", "RANK": "0"}
    cmd = [sys.executable, "-m", "training", "train", "--store", str(tiny_store(n=3)), "--out",
           str(tmp_path / "m.pt"), "--params", str(params_file())]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "MASTER_ADDR" in result.stderr and "torchrun --nproc_per_node" in result.stderr


def test_freeze_norm_keeps_the_batchnorm_statistics_of_init(tiny_store, params_file, tiny_model_args, tmp_path):
    init = tmp_path / "release.pt"
    model = MattingNet(ModelConfig(**tiny_model_args))
    save_weights(init, model)
    stats = {k: v.clone() for k, v in model.state_dict().items() if k.endswith(("running_mean", "running_var"))}
    assert stats
    store = tiny_store(n=6)
    for freeze, same in ((True, True), (False, False)):
        out = tmp_path / f"m{freeze}.pt"
        params = params_file(train={"init": str(init), "freeze_norm": freeze, "epochs": 1, "max_steps": 2})
        assert training_main(["train", "--store", str(store), "--out", str(out), "--params", str(params)]) == 0
        trained = load_model(out).state_dict()
        assert all(torch.equal(trained[k], v) for k, v in stats.items()) is same


def test_ohem_equals_the_mean_of_topk_even_with_ties():
    logits = torch.tensor([[[[0.0, 0.0, 0.0, 0.0, 3.0, -3.0]]]])  # four tied losses of ln 2
    true = torch.tensor([[[[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]]]])
    values = torch.nn.functional.binary_cross_entropy_with_logits(logits, true, reduction="none").flatten()
    for ratio in (1 / 6, 0.5, 2 / 3, 1.0):
        k = round(ratio * 6)
        assert float(ohem_bce_loss(logits, true, ratio)) == pytest.approx(float(values.topk(k).values.mean()))


def test_upright_batches_swap_the_input_size_for_the_whole_batch(tiny_store):
    from torch.utils.data import DataLoader, SequentialSampler

    from training.data import MattingDataset, OrientedBatches, store_items

    ds = MattingDataset(store_items(tiny_store(n=12), "train"), 64, 40, AugmentParams())
    shapes = []
    for share in (0.0, 1.0, 0.5):
        batches = OrientedBatches(SequentialSampler(ds), 2, True, share, seed=1)
        shapes.append([tuple(b["image"].shape[-2:]) for b in DataLoader(ds, batch_sampler=batches)])
    assert set(shapes[0]) == {(40, 64)} and set(shapes[1]) == {(64, 40)}
    assert len(shapes[2]) == len(ds) // 2
    batches = OrientedBatches(SequentialSampler(ds), 2, True, 0.5, seed=1)
    assert list(batches) == list(batches)  # the draw repeats for a seed and epoch


def test_only_rank_0_writes_a_stages_metrics(tmp_path, monkeypatch):
    from core.cli import stage_main

    out = tmp_path / "m.json"
    for rank, written in (("1", False), ("0", True)):
        monkeypatch.setenv("RANK", rank)
        assert stage_main("p", "doc", None, None, lambda parser: None, lambda args: {"x": 1},
                          ["--metrics", str(out)]) == 0
        assert out.is_file() == written


def test_init_adds_the_prior_channel_and_keeps_what_the_file_computes(tiny_model_args, tmp_path):
    init = tmp_path / "release.pt"
    torch.manual_seed(7)
    rgb_model = MattingNet(ModelConfig(**tiny_model_args))
    save_weights(init, rgb_model)
    depths = list(tiny_model_args["enc_depths"])
    for grown in (depths, [d + 1 for d in depths]):  # the prior alone, and with a deeper encoder
        with_prior = MattingNet(ModelConfig(**{**tiny_model_args, "in_channels": 4, "enc_depths": grown}))
        init_from(with_prior, init)
        x = torch.rand(2, 3, tiny_model_args["input_height"], tiny_model_args["input_width"])
        prior = torch.rand(2, 1, *x.shape[-2:])  # whatever the previous frame says: weights 0 for it yet
        with torch.no_grad():
            assert torch.allclose(with_prior.eval()(torch.cat([x, prior], 1)), rgb_model.eval()(x), atol=1e-6)
        assert not with_prior.stem.conv.weight[:, 3].any() and with_prior.stem.conv.weight[:, :3].abs().sum() > 0
    with_prior.train()
    out, _ = with_prior(torch.cat([x, prior], 1), logits=True)
    out.mean().backward()
    assert with_prior.stem.conv.weight.grad[:, 3].abs().sum() > 0  # and it learns to read the prior
    save_weights(tmp_path / "prior.pt", with_prior)  # a 4-channel file does not go back to 3 channels
    with pytest.raises(ValueError, match=r"prior\.pt.*in_channels: 4 in the file vs 3 in params"):
        init_from(MattingNet(ModelConfig(**tiny_model_args)), tmp_path / "prior.pt")


def test_init_folds_the_squeeze_excite_into_the_projections(tiny_model_args, tmp_path, caplog):
    torch.manual_seed(11)
    gated = MattingNet(ModelConfig(**tiny_model_args))
    for m in gated.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # a trained model's norms: the gate's estimate reads them
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
        if isinstance(m, SqueezeExcite):  # a gate that does not depend on the image: the fold is exact
            torch.nn.init.zeros_(m.fc2.weight)
            m.fc2.bias.data.uniform_(-2.0, 2.0)
    save_weights(tmp_path / "release.pt", gated)
    cheaper = MattingNet(ModelConfig(**{**tiny_model_args, "se_reduction": 0}))
    with caplog.at_level(logging.INFO, logger="training.checkpoint"):
        init_from(cheaper, tmp_path / "release.pt")
    assert "squeeze-excite folded into the projections" in caplog.text
    assert not any(isinstance(m, SqueezeExcite) for m in cheaper.modules())
    x = torch.rand(2, 3, tiny_model_args["input_height"], tiny_model_args["input_width"])
    with torch.no_grad():
        assert torch.allclose(cheaper.eval()(x), gated.eval()(x), atol=1e-5)
        ungated = MattingNet(ModelConfig(**{**tiny_model_args, "se_reduction": 0}))
        ungated.load_state_dict(cheaper.state_dict())
        block = ungated.encoder.stages[0][0].body
        block[5].weight.copy_(gated.encoder.stages[0][0].body[6].weight)  # without the gate's scale: not the same
        assert not torch.allclose(ungated.eval()(x), gated(x), atol=1e-3)
    save_weights(tmp_path / "cheaper.pt", cheaper)  # a gate cannot be made up
    with pytest.raises(ValueError, match=r"cheaper\.pt.*se_reduction: 0 in the file vs 4 in params"):
        init_from(MattingNet(ModelConfig(**tiny_model_args)), tmp_path / "cheaper.pt")


def test_the_same_weights_save_to_the_same_bytes(tiny_model_args, tmp_path):
    """`train.init` is recognised by its sha256 (a resumed run checks it): saving a release twice, under any
    name, must not change it."""
    model = MattingNet(ModelConfig(**tiny_model_args))
    save_weights(tmp_path / "a.pt", model)
    save_weights(tmp_path / "other" / "b.pt", model)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "other" / "b.pt").read_bytes()
    assert torch.equal(load_model(tmp_path / "a.pt").stem.conv.weight, model.stem.conv.weight)
