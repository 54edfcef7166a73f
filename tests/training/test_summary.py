"""The end of `make run`: ours vs the baselines as a small table, a verdict, where to look next."""
from __future__ import annotations

from core import io
from training import summary

MODELS = {"models/matting.onnx": {"n": 40, "iou": 0.91, "boundary_iou": 0.62, "mad": 21.5, "fps": 180.0},
          "mediapipe-selfie": {"n": 40, "iou": 0.88, "boundary_iou": 0.65, "mad": 25.0, "fps": 120.0},
          "mediapipe-landscape": {"n": 40, "iou": 0.86, "boundary_iou": 0.60, "mad": 28.0, "fps": 150.0}}


def _reports(tmp_path, models=MODELS):
    io.write_json(tmp_path / "reports" / "eval" / "comparison.json", {"models": models, "fps": {}})
    return tmp_path / "reports"


def test_end_of_run_ends_with_the_table_and_the_report_path(tmp_path):
    (tmp_path / "data" / "review").mkdir(parents=True)
    text = summary.end_of_run(_reports(tmp_path), root=tmp_path)
    lines = text.splitlines()
    last = lines[-12:]  # what stays on screen after `make run`
    assert "| model | IoU ↑ | Boundary IoU ↑ | MAD x1e3 ↓ | fps 720p ↑ |" in last
    assert "| matting.onnx (ours) | **0.910** | 0.620 | **21.5** | **180** |" in last
    assert "| mediapipe-selfie | 0.880 | **0.650** | 25.0 | 120 |" in last
    assert any("reports/index.html" in line for line in last)
    assert any("make plots" in line for line in last)
    assert ("Verdict: Ours beats both baselines on IoU (0.910 vs 0.880 for mediapipe-selfie), "
            "and is 1.5x faster at 720p (180 vs 120 fps).") in lines
    assert "data/review" in lines[0] and "expected" in lines[0]  # the empty-folder warnings, explained
    assert all(len(line) <= 100 for line in lines if not line.startswith("Verdict"))


def test_verdict_when_ours_trails(tmp_path):
    models = {**MODELS, "models/matting.onnx": {**MODELS["models/matting.onnx"], "iou": 0.87, "fps": 60.0}}
    comparison = summary.load(_reports(tmp_path, models))
    assert summary.verdict(comparison) == ("Ours beats 1 of 2 baselines on IoU but trails mediapipe-selfie "
                                           "(0.870 vs 0.880), and is 2.0x slower at 720p (60 vs 120 fps).")


def test_unmeasured_values_read_n_a(tmp_path):
    models = {name: {**m, "fps": None} for name, m in MODELS.items()}
    comparison = summary.load(_reports(tmp_path, models))
    assert "n/a" in summary.markdown_table(comparison)
    assert summary.verdict(comparison).endswith("fps not measured.")


def test_no_evaluation_says_which_stage_to_run(tmp_path, capsys):
    assert summary.main(["--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "dvc repro evaluate" in out and "reports/index.html" in out


def test_make_run_ends_with_the_summary(repo_root):
    """`make run`'s last command prints end_of_run (the table, the verdict, the report path)."""
    makefile = (repo_root / "Makefile").read_text().split("\nrun:", 1)[1]
    recipe = [line.strip() for line in makefile.split("\n\n", 1)[0].splitlines()[1:]]
    assert recipe[-1].lstrip("@") == "$(PY) -m training summary"
