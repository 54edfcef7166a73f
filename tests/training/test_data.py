"""Dataset readers (store, composites) and the augmentation geometry."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core import io
from training.data import (IDENTITY, AugmentParams, MattingDataset, composite_items, crop_matrix, draw_augment,
                           store_items)


def test_store_items_by_split(tiny_store):
    root = tiny_store(n=6)
    train = store_items(root, "train")
    assert len(train) == 2 and all(i.kind == "store" and i.image.is_file() and i.ignore is None for i in train)
    assert {i.key for i in train}.isdisjoint({i.key for i in store_items(root, "test")})


def test_composite_items_with_priors(tiny_composites):
    root = tiny_composites(n=6)
    items = composite_items(root, "val")
    assert [i.key for i in items] == ["c0001", "c0004"]
    assert all(i.prior is not None and i.prior.is_file() for i in items)


def test_composites_without_table_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="composites.parquet"):
        composite_items(tmp_path, "train")


def test_identity_crop_maps_a_16_9_image_onto_the_output():
    m = crop_matrix(90, 160, 64, 36, IDENTITY)
    assert np.allclose(m, [[0.4, 0.0, 0.0], [0.0, 0.4, 0.0]])


def test_portrait_image_is_padded_not_squeezed():
    m = crop_matrix(100, 50, 64, 36, IDENTITY)  # 50x100 portrait into 64x36: height fits, sides padded
    assert m[0, 0] == pytest.approx(m[1, 1]) == pytest.approx(0.36)


def test_dataset_tensors_and_determinism(tiny_store, tiny_composites):
    items = store_items(tiny_store(n=6), "train") + composite_items(tiny_composites(n=6), "train")
    ds = MattingDataset(items, 64, 40, AugmentParams(), seed=3, with_prior=True)
    sample = ds[0]
    assert sample["image"].shape == (3, 40, 64) and sample["alpha"].shape == (1, 40, 64)
    assert sample["weight"].shape == (1, 40, 64) and sample["prior"].shape == (1, 40, 64)
    assert 0.0 <= float(sample["image"].min()) and float(sample["image"].max()) <= 1.0
    assert torch.equal(ds[0]["image"], sample["image"])  # same (seed, epoch, index) -> same sample
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["image"], sample["image"])
    # a composite's prior comes from its prior/ file (unless dropped), a store sample's is synthesized
    priors = [float(ds[i]["prior"].sum()) for i in range(len(ds))]
    assert any(p > 0 for p in priors)


def test_ignore_mask_gives_zero_weight(tiny_store):
    root = tiny_store(n=3)
    table = pd.read_parquet(root / "samples.parquet")
    row = table[table["split"] == "train"].iloc[0]
    ignore = np.zeros((row.height, row.width), np.uint8)
    ignore[:, : row.width // 2] = 255
    io.write_png(root / "ignore" / f"{row.id}.png", ignore)
    table.loc[table["id"] == row.id, "ignore"] = f"ignore/{row.id}.png"
    io.write_parquet(root / "samples.parquet", table)
    ds = MattingDataset(store_items(root, "train"), 64, 40, None)
    weight = ds[0]["weight"][0]
    assert float(weight[:, :28].max()) == 0.0 and float(weight[:, 36:].min()) == 1.0


def test_draws_stay_in_range():
    p = AugmentParams()
    rng = np.random.default_rng(0)
    for _ in range(50):
        d = draw_augment(rng, p)
        assert p.zoom[0] <= d.zoom <= p.zoom[1] and abs(d.angle) <= p.rotate and abs(d.hue) <= p.hue
