"""The ingestion flow runs the configured sources through the same library function as the DVC stage."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from datasets import sample
from flows.ingest import ingest_sources


def test_flow_ingests_each_configured_source(tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sample.main(["--out", "raw", "--params", str(repo_root / "params.yaml")]) == 0
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["sources"] = {"c": {"format": "coco", "src": "raw/coco"}, "v": {"format": "voc", "src": "raw/voc"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    results = ingest_sources(stores="stores", only=["v"], params_file="params.yaml")
    assert list(results) == ["v"] and not (tmp_path / "stores" / "c").exists()
    samples = pd.read_parquet(tmp_path / "stores" / "v" / "samples.parquet")
    assert len(samples) == results["v"]["samples"] > 0
    assert results["v"]["offered"] == results["v"]["samples"] + results["v"]["quarantined"] + results["v"]["no_person"]
    with pytest.raises(ValueError, match="no source"):
        ingest_sources(stores="stores", only=["nope"], params_file="params.yaml")
