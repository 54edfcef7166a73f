"""FiftyOne review for reviewers: the App opens on the flagged view with the labels that matter visible,
the disagreement map on a colour scale, the review tags known; `--pull` warns about tags it does not know."""
from __future__ import annotations

import pytest

from labeling import review
from labeling.review import ReviewParams
from tests.labeling._people_fixtures import labeled_store, write_params  # noqa: F401


@pytest.fixture
def dataset(fiftyone_db, labeled_store, tmp_path):
    store, labels = labeled_store(["keep", "review", "replace"], name=f"app-{tmp_path.name[-12:]}")
    ds, _ = review.build_dataset(ReviewParams(dataset_prefix="app-"), store, labels)
    return ds, store


def test_app_config_shows_the_labels_on_a_colour_scale(dataset):
    ds, _ = dataset
    config = ds.app_config
    assert config.active_fields.paths == ["ground_truth", "ensemble", "disagreement"]
    scheme = config.color_scheme
    assert scheme.colorscales[0]["path"] == "disagreement" and scheme.colorscales[0]["name"] == "inferno"
    tag_colors = next(f for f in scheme.fields if f["path"] == "tags")["valueColors"]
    assert [c["value"] for c in tag_colors] == ["approve", "fix", "reject"]
    assert ds.info["review_tags"] == list(review.REVIEW_TAGS) and "approve" in ds.description


def test_pull_warns_about_unknown_tags(dataset, tmp_path, caplog):
    ds, store = dataset
    ds.take(1, seed=0).tag_samples("aprove")  # a typo
    params_file = write_params(tmp_path / "params.yaml", review=ReviewParams(dataset_prefix="app-"))
    out = tmp_path / "review.parquet"
    assert review.main(["--store", str(store), "--pull", "--out", str(out), "--params", str(params_file)]) == 0
    assert "1 samples are tagged 'aprove', which is no review tag (known: reject, fix, approve" in caplog.text


def test_flagged_view_url():
    assert review.view_url("http://127.0.0.1:5151/", "matting-sample coco") == \
        "http://127.0.0.1:5151/datasets/matting-sample%20coco?view=flagged"
    assert review.unknown_tags({"approve": 2, "flag:shifted": 1, "looked-at": 3}) == {"looked-at": 3}
