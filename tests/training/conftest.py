"""Fixtures for the training tests: a tiny model config, a params file, checkpoints, composites."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from core import io
from training.checkpoint import save_checkpoint
from training.model import MattingNet, ModelConfig

TINY_MODEL = {"input_width": 64, "input_height": 40, "stem_channels": 8, "enc_channels": [8, 8, 16, 16],
              "enc_depths": [1, 1, 1, 1], "enc_dilations": [[1, 2], [1], [1, 2], [1, 2]], "expansion": 2,
              "se_reduction": 4, "dec_channels": [16, 8, 8], "refine_hidden": 2, "refine_growth": 2,
              "refine_layers": 1}


@pytest.fixture
def tiny_model_args() -> dict:
    return dict(TINY_MODEL)


@pytest.fixture
def params_file(tmp_path):
    """Factory: ``params_file(model={...}, train={...}, ...)`` -> a params.yaml with tiny, fast settings."""

    def make(**sections) -> Path:
        data = {"model": dict(TINY_MODEL),
                "train": {"init": "", "freeze_norm": False, "lr": 3e-3, "epochs": 2, "max_steps": 0, "batch_size": 2,
                          "warmup_steps": 1, "store_repeat": 1},  # tiny models from scratch
                "evaluate": {"fps_frames": 2, "fps_sizes": ["640x360"], "worst": 3, "tile_width": 64},
                "export": {"calibration_images": 4, "parity_images": 2},
                "predict": {}, "video": {}}
        for name, values in sections.items():
            data[name] = {**data.get(name, {}), **values}
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return make


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """Factory: ``tiny_checkpoint(**model_args)`` -> Path of an untrained checkpoint of a tiny model."""

    def make(**overrides) -> Path:
        torch.manual_seed(0)
        model = MattingNet(ModelConfig(**{**TINY_MODEL, **overrides}))
        path = tmp_path / f"tiny-{len(overrides)}-{overrides.get('in_channels', 3)}.pt"
        save_checkpoint(path, {"model_args": model.model_args(), "model": model.state_dict(), "config": {}})
        return path

    return make


@pytest.fixture
def tiny_composites(tmp_path):
    """Factory: ``tiny_composites(n=6)`` -> a composites folder as `python -m datasets synthesize` writes it."""

    def make(n: int = 6, size: tuple[int, int] = (96, 54), seed: int = 0) -> Path:
        root = tmp_path / "composites"
        rng = np.random.default_rng(seed)
        w, h = size
        rows = []
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(n):
            cid = f"c{i:04d}"
            cx = w * rng.uniform(0.3, 0.7)
            alpha = ((((xx - cx) / (0.15 * w)) ** 2 + ((yy - 0.4 * h) / (0.25 * h)) ** 2 <= 1)
                     | ((np.abs(xx - cx) < 0.25 * w) & (yy > 0.6 * h))).astype(np.uint8) * 255
            image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
            image[alpha > 0] = (200, 120, 90)
            io.write_jpeg(root / "images" / f"{cid}.jpg", image)
            io.write_png(root / "alpha" / f"{cid}.png", alpha)
            io.write_png(root / "prior" / f"{cid}.png", np.roll(alpha, 2, axis=1))
            rows.append({"cid": cid, "sample_id": f"s{i}", "split": ("train", "val", "test")[i % 3],
                         "prior_kind": "shift"})
        io.write_parquet(root / "composites.parquet", pd.DataFrame(rows))
        return root

    return make
