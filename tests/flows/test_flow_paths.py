"""Flows read their paths from dvc.yaml (flows/dvc.py): a stage's command options and outs, and `vars: flows`."""
from __future__ import annotations

from pathlib import Path

import pytest

from flows import dvc
from flows.retrain import Paths

PIPELINE = """
vars:
  - flows:
      champion: models/champion
stages:
  evaluate:
    cmd: >-
      python -m training evaluate --model models/m.onnx --images data/t/images
      --out reports/eval --baselines a,b
    outs:
      - reports/eval/per_sample.parquet
      - reports/eval/worst.png:
          cache: false
  ingest:
    foreach: ${sources}
    do:
      cmd: python -m datasets ingest --out data/stores/${key}
"""


@pytest.fixture
def root(tmp_path) -> Path:
    (tmp_path / "dvc.yaml").write_text(PIPELINE)
    return tmp_path


def test_stage_options_outs_and_flow_paths(root):
    assert dvc.stage_option("evaluate", "--out", root) == root / "reports/eval"
    assert dvc.stage_option("evaluate", "--images", root) == root / "data/t/images"
    assert dvc.stage_outs("evaluate", root) == [root / "reports/eval/per_sample.parquet", root / "reports/eval/worst.png"]
    assert dvc.flow_path("champion", root) == root / "models/champion"


@pytest.mark.parametrize("call, message", [
    (lambda root: dvc.stage_option("train", "--out", root), "no stage 'train'"),
    (lambda root: dvc.stage_option("evaluate", "--masks", root), "has no --masks"),
    (lambda root: dvc.flow_path("rounds", root), "flows: rounds"),
])
def test_what_dvc_yaml_lacks_is_named(root, call, message):
    with pytest.raises(dvc.PipelineError, match=message):
        call(root)


def test_no_pipeline_is_a_user_error(tmp_path):
    with pytest.raises(dvc.PipelineError, match="no pipeline"):
        dvc.stage_option("evaluate", "--out", tmp_path)


def test_the_repository_pipeline_names_every_path_the_flows_read(repo_root):
    paths = Paths.of(repo_root)
    assert paths.model.name in {p.name for p in paths.model_files}  # the champion keeps the evaluated file
    assert paths.images.parent == paths.masks.parent
    assert paths.champion != paths.model.parent and paths.reports.is_relative_to(repo_root)
    for option in ("--stores", "--labels", "--review", "--corrections"):  # label-round
        assert dvc.stage_option("curate", option, repo_root).is_relative_to(repo_root / "data")
    assert dvc.flow_path("rounds", repo_root).is_relative_to(repo_root)
