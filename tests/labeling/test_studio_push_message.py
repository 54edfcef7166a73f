"""`studio push` ends with where to work: the project's URL and the user to log in as."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from labeling import studio
from tests.labeling._people_fixtures import make_store, write_labels, write_params  # noqa: F401


def test_push_prints_the_project_url_and_the_user(studio_server, studio_params, tmp_path, caplog):
    root = studio_params.document_root
    store = make_store(Path(root) / "stores" / "msg", "msg", 2, 3)
    labels = Path(root) / "labels" / "msg"
    write_labels(store, labels, ["review", "review"], seed=3)
    params_file = write_params(tmp_path / "params.yaml", studio=studio_params)
    with caplog.at_level(logging.INFO, logger="labeling.studio"):
        assert studio.main(["push", "--round", "7", "--params", str(params_file), "--store", str(store),
                            "--labels", str(labels)]) == 0
    project = studio.find_project(studio.connect(studio_params), studio.project_title(studio_params, 7))
    assert f"{studio.server_url(studio_params)}/projects/{project.id}/data" in caplog.text
    assert "log in as " in caplog.text


def test_push_defaults_to_every_source(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"sources": {"a": {"format": "coco", "src": "x"}, "b": {"format": "voc",
                                                                                            "src": "y"}}}))
    stores, labels = studio.source_folders(params)
    assert [str(s) for s in stores] == ["data/stores/a", "data/stores/b"]
    assert [str(s) for s in labels] == ["data/labels/a", "data/labels/b"]
    params.write_text("studio: {}\n")
    with pytest.raises(studio.StudioError, match="no `sources`"):
        studio.source_folders(params)
