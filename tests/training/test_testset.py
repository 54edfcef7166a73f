"""The fixed test set: store test samples and test-split composites, by stem."""
from __future__ import annotations

import pandas as pd

from training.__main__ import main as training_main


def test_testset_from_store_and_composites(tiny_store, tiny_composites, tmp_path):
    store, composites, out = tiny_store(n=6), tiny_composites(n=6), tmp_path / "testset"
    (out / "images").mkdir(parents=True)
    (out / "images" / "stale.png").write_bytes(b"old")
    assert training_main(["testset", "--store", str(store), "--composites", str(composites), "--out", str(out)]) == 0
    index = pd.read_parquet(out / "index.parquet")
    samples = pd.read_parquet(store / "samples.parquet")
    expected = set(samples.loc[samples["split"] == "test", "id"]) | {"c0002", "c0005"}
    assert set(index["stem"]) == expected
    assert {p.stem for p in (out / "images").iterdir()} == expected
    assert {p.stem for p in (out / "masks").iterdir()} == expected
    assert (out / "images" / "c0002.jpg").read_bytes() == (composites / "images" / "c0002.jpg").read_bytes()
