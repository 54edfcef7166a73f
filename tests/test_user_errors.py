"""User errors end in one line naming the key or file, exit 2 (issue 12): numeric params out of range,
a typo'd params section, an evaluation with nothing to evaluate. And the repository's params load."""
from __future__ import annotations

import dataclasses
import json
import importlib

import pytest
import yaml

from core import io
from core.config import ParamsError, load_section

# section -> its dataclass (module, name): every section a stage loads
SECTION_CLASSES = {
    "sample": ("datasets.sample", "SampleParams"), "ingest": ("datasets.ingest", "IngestParams"),
    "synthesize": ("datasets.synthesis.params", "SynthesisParams"), "review": ("labeling.review", "ReviewParams"),
    "studio": ("labeling.studio", "StudioParams"), "autolabel": ("labeling.autolabel", "AutolabelParams"),
    "clean": ("labeling.clean", "CleanParams"), "curate": ("labeling.curate", "CurateParams"),
    "model": ("training.model", "ModelConfig"), "train": ("training.train", "TrainParams"),
    "evaluate": ("training.evaluate", "EvaluateParams"), "export": ("training.export", "ExportParams"),
    "video": ("training.video", "VideoParams"), "retrain": ("flows.retrain", "RetrainParams"),
}


def _cls(section: str):
    module, name = SECTION_CLASSES[section]
    return getattr(importlib.import_module(module), name)


def _params_with(tmp_path, repo_root, section: str, key: str, value) -> str:
    data = yaml.safe_load((repo_root / "params.yaml").read_text())
    data[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("section", sorted(SECTION_CLASSES))
def test_the_repository_params_load_every_section(section, repo_root):
    load_section(section, _cls(section), repo_root / "params.yaml")


@pytest.mark.parametrize("section, key, value", [
    ("evaluate", "max_images", -1), ("export", "calibration_images", -1), ("evaluate", "fps_frames", -5),
    ("train", "batch_size", 0), ("train", "lr", -0.1), ("train", "lr", 0.0), ("ingest", "min_person_pixels", -3),
    ("video", "blur_sigma", float("nan")),
])
def test_numeric_params_out_of_range_name_the_key(section, key, value, tmp_path, repo_root):
    path = _params_with(tmp_path, repo_root, section, key, value)
    with pytest.raises(ParamsError, match=rf"`{section}\.{key}` should be"):
        load_section(section, _cls(section), path)


def test_a_typo_in_a_top_level_section_is_an_error(tmp_path, repo_root):
    path = tmp_path / "params.yaml"
    path.write_text((repo_root / "params.yaml").read_text() + "\nevalute:\n  max_images: 5\n")
    with pytest.raises(ParamsError, match=r"unknown section\(s\) \['evalute'\]"):
        load_section("evaluate", _cls("evaluate"), path)


def _one_error_line(caplog) -> str:
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "\n" not in record.getMessage() and not record.exc_info
    return record.getMessage()


def test_bad_params_exit_2_in_one_line(tmp_path, repo_root, caplog):
    from training.evaluate import main
    path = _params_with(tmp_path, repo_root, "evaluate", "max_images", -1)
    rc = main(["--model", "x.onnx", "--images", str(tmp_path), "--masks", str(tmp_path), "--out", str(tmp_path / "o"),
               "--params", str(path)])
    assert rc == 2 and "`evaluate.max_images`" in _one_error_line(caplog)


def test_evaluate_with_no_matching_pair_exits_2_and_writes_no_metrics(tmp_path, repo_root, caplog):
    from training.evaluate import main
    rng = __import__("numpy").random.default_rng(0)
    io.write_jpeg(tmp_path / "images" / "a.jpg", rng.integers(0, 255, (8, 8, 3), dtype="uint8"))
    io.write_png(tmp_path / "masks" / "b.png", rng.integers(0, 255, (8, 8), dtype="uint8"))
    rc = main(["--model", "models/none.onnx", "--images", str(tmp_path / "images"), "--masks",
               str(tmp_path / "masks"), "--out", str(tmp_path / "eval"), "--params", str(repo_root / "params.yaml")])
    assert rc == 2 and "nothing to evaluate" in _one_error_line(caplog)
    assert not (tmp_path / "eval" / "metrics.json").exists()


# Defaults allowed to differ from params.yaml (section.field -> why); empty: every default is params.yaml's.
PENDING_DRIFT: dict[str, str] = {}  # key -> why its dataclass default may differ from params.yaml (none now)


def _drift(default, loaded, where: str) -> list[str]:
    out = []
    for f in dataclasses.fields(default):
        a, b = getattr(default, f.name), getattr(loaded, f.name)
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
            out += _drift(a, b, f"{where}.{f.name}")
        elif a != b:
            out.append(f"{where}.{f.name}")
    return out


@pytest.mark.parametrize("section", sorted(SECTION_CLASSES))
def test_every_dataclass_default_equals_params_yaml(section, repo_root):
    """One home per value: a dataclass built without params (a test, a benchmark, a library call) gets what
    the pipeline runs with."""
    cls = _cls(section)
    drift = _drift(cls(), load_section(section, cls, repo_root / "params.yaml"), section)
    pending = sorted(k for k in PENDING_DRIFT if k.split(".")[0] == section)
    assert sorted(set(drift) - set(pending)) == [], "set these defaults to params.yaml's values"
    assert sorted(set(pending) - set(drift)) == [], "fixed: remove them from PENDING_DRIFT"


def _actions(seen: dict):
    from core.cli import Action, UsageError

    def args_of(parser):
        parser.add_argument("--n", type=int, required=True)

    def count(args):
        if args.n < 0:
            raise UsageError("--n should be >= 0")
        if args.n == 0:
            raise FileNotFoundError("nothing/here: no such file")
        seen["n"] = args.n
        return {"n": args.n}

    return {"count": Action("count", args_of, count),
            "quiet": Action("no figures", args_of, count, metrics_help=None)}


def test_actions_main_runs_an_action_as_a_stage(tmp_path, caplog):
    """A stage of several actions (studio serve/push/pull): each runs through the kernel, with its own options."""
    from core.cli import actions_main

    seen: dict = {}
    metrics = tmp_path / "m.json"
    assert actions_main("prog", "A stage.", None, None, _actions(seen), ["count", "--n", "3", "--metrics",
                                                                          str(metrics)]) == 0
    assert seen == {"n": 3} and json.loads(metrics.read_text()) == {"n": 3}
    assert actions_main("prog", "A stage.", None, None, _actions(seen), ["count", "--n", "0"]) == 2
    assert "prog count: error: nothing/here" in _one_error_line(caplog)
    with pytest.raises(SystemExit) as usage:  # options that do not go together: argparse's usage, exit 2
        actions_main("prog", "A stage.", None, None, _actions(seen), ["count", "--n", "-1"])
    assert usage.value.code == 2
    with pytest.raises(SystemExit):  # an action without figures has no --metrics
        actions_main("prog", "A stage.", None, None, _actions(seen), ["quiet", "--n", "1", "--metrics", "x"])


def test_comma_list():
    from core.cli import comma_list

    assert comma_list(" a, b,,c ") == ["a", "b", "c"] and comma_list(" , ") is None


def test_studio_push_with_unpaired_labels_is_a_usage_error(tmp_path, repo_root, capsys):
    from labeling import studio

    with pytest.raises(SystemExit) as usage:  # said before any server is asked
        studio.main(["push", "--round", "1", "--store", str(tmp_path), "--params", str(repo_root / "params.yaml")])
    assert usage.value.code == 2 and "give one --labels per --store" in capsys.readouterr().err
