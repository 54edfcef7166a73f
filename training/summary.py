"""`python -m training summary`: the end of `make run`, ours vs the baselines in a few lines.

Reads the evaluation's ``reports/eval/comparison.json`` and prints a small Markdown table (IoU,
Boundary IoU, MAD, fps at 1280x720 on one thread; the best value of each column in bold), a
one-line verdict and where to look next. The run report (`reports/index.html`) leads with the
same table and verdict.

    python -m training summary [--reports reports]
"""
from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.cli import stage_main
from training.baselines import BASELINES

# (key in comparison.json's models, column title, higher is better, format)
COLUMNS = (("iou", "IoU", True, ".3f"), ("boundary_iou", "Boundary IoU", True, ".3f"),
           ("mad", "MAD x1e3", False, ".1f"), ("fps", "fps 720p", True, ".0f"))
# What fills only when people work between runs: DVC warns "'<folder>' is empty" for each, every run.
INBOX = ("data/corrections", "data/review")
# (where, what): where to look after `make run`.
NEXT = (("reports/index.html", "the full run report (data, labels, training, evaluation, worst cases)"),
        ("make plots", "training and evaluation plots (reports/plots/index.html)"),
        ("reports/eval/comparison.md", "every metric and the fps table per size and thread count"))


@dataclass(frozen=True)
class Comparison:
    """Ours (the model of comparison.json that is no baseline) and the baselines: name -> {metric: value}."""
    ours: str
    models: dict[str, dict[str, Any]]

    @property
    def baselines(self) -> list[str]:
        return [m for m in self.models if m != self.ours]

    def value(self, model: str, key: str) -> float | None:
        value = self.models[model].get(key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

    def best(self, key: str) -> str | None:
        """The model with the best value of ``key`` (None when no model has one)."""
        higher = next(c[2] for c in COLUMNS if c[0] == key)
        scored = [(v, m) for m in self.models if (v := self.value(m, key)) is not None]
        if not scored:
            return None
        return (max if higher else min)(scored, key=lambda vm: vm[0])[1]


def load(reports: Path) -> Comparison | None:
    """The comparison written by `python -m training evaluate --baselines ...`, or None when absent."""
    return load_file(Path(reports) / "eval" / "comparison.json")


def load_file(path: Path) -> Comparison | None:
    """The comparison in one ``comparison.json`` file, or None when absent."""
    if not Path(path).is_file():
        return None
    models = json.loads(Path(path).read_text())["models"]  # written with sorted keys: ours is the one not a baseline
    ours = [m for m in models if m not in BASELINES]
    if not ours:
        return None
    order = ours[:1] + [b for b in BASELINES if b in models] + [m for m in models if m not in BASELINES][1:]
    return Comparison(ours=ours[0], models={m: models[m] for m in order})


def display_name(comparison: Comparison, model: str) -> str:
    return f"{Path(model).name} (ours)" if model == comparison.ours else model


def markdown_table(comparison: Comparison) -> str:
    """One row per model, one column per COLUMNS entry; the best of each column in bold."""
    best = {key: comparison.best(key) for key, *_ in COLUMNS}
    head = " | ".join(f"{title} {'↑' if higher else '↓'}" for _, title, higher, _ in COLUMNS)
    lines = [f"| model | {head} |", "|---|" + "---:|" * len(COLUMNS)]
    for model in comparison.models:
        cells = []
        for key, _, _, fmt in COLUMNS:
            value = comparison.value(model, key)
            cell = "n/a" if value is None else format(value, fmt)
            cells.append(f"**{cell}**" if best[key] == model else cell)
        lines.append(f"| {display_name(comparison, model)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(comparison: Comparison) -> str:
    """One sentence: how ours compares with the strongest baseline on IoU and on speed at 720p."""
    if not comparison.baselines:
        return "No baseline was evaluated (evaluate --baselines): nothing to compare with."
    ours_iou = comparison.value(comparison.ours, "iou")
    rivals = [(comparison.value(b, "iou"), b) for b in comparison.baselines]
    rivals = [(v, b) for v, b in rivals if v is not None]
    if ours_iou is None or not rivals:
        return "No IoU to compare: the evaluation scored no image (see reports/eval/per_sample.parquet)."
    rival_iou, rival = max(rivals)
    beaten = sum(ours_iou > v for v, _ in rivals)
    if beaten == len(rivals):
        every = "both" if len(rivals) == 2 else "all"
        quality = f"Ours beats {every} baselines on IoU ({ours_iou:.3f} vs {rival_iou:.3f} for {rival})"
    elif beaten:
        quality = (f"Ours beats {beaten} of {len(rivals)} baselines on IoU but trails {rival} "
                   f"({ours_iou:.3f} vs {rival_iou:.3f})")
    else:
        quality = f"Ours trails the baselines on IoU ({ours_iou:.3f} vs {rival_iou:.3f} for {rival})"
    ours_fps, rival_fps = comparison.value(comparison.ours, "fps"), comparison.value(rival, "fps")
    if ours_fps is None or rival_fps is None or rival_fps <= 0:
        return quality + "; fps not measured."
    ratio = ours_fps / rival_fps
    speed = f"{ratio:.1f}x as fast" if 0.95 <= ratio < 1.05 else \
        f"{ratio:.1f}x faster" if ratio > 1 else f"{1 / ratio:.1f}x slower"
    return f"{quality}, and is {speed} at 720p ({ours_fps:.0f} vs {rival_fps:.0f} fps)."


def empty_inbox(root: Path) -> list[str]:
    """INBOX folders that exist and hold nothing (DVC warns about each of them, as expected)."""
    return [f for f in INBOX if (root / f).is_dir() and not any((root / f).iterdir())]


def end_of_run(reports: Path, root: Path = Path("."), dvc_output_shown: bool = True) -> str:
    """The text `make run` ends with: the comparison table, the verdict, where to look next (and, when
    DVC's own output was shown, why it warned about empty folders)."""
    lines = []
    empty = empty_inbox(root) if dvc_output_shown else []
    if empty:
        lines += [f"Note: DVC's \"'{empty[0]}' is empty\" warnings above are expected: {' and '.join(empty)} "
                  "fill only", "when people review labels (FiftyOne) or correct them (Label Studio); see "
                  "docs/people-in-the-loop.md.", ""]
    comparison = load(reports)
    if comparison is None:
        lines += [f"No evaluation yet ({Path(reports) / 'eval' / 'comparison.json'} is missing): "
                  "run `dvc repro evaluate`.", ""]
    else:
        n = comparison.models[comparison.ours].get("n")
        lines += [f"## Ours vs MediaPipe ({n} test images; fps end to end at 1280x720 on one thread; best in bold)",
                  "", markdown_table(comparison), "", f"Verdict: {verdict(comparison)}", ""]
    lines.append("Where to look next:")
    lines += [f"  {where:<28} {what}" for where, what in NEXT]
    return "\n".join(lines)


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_commit(root: Path) -> str:
    """Short commit hash, with '+ uncommitted changes' when tracked files differ from it."""
    head = _git(root, "rev-parse", "--short", "HEAD")
    if not head:
        return "unknown (not a git repository)"
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    return head.strip() + (" + uncommitted changes" if dirty else "")


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(obj, dict):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def params_changed(root: Path) -> list[tuple[str, Any, Any]] | None:
    """(key, value at the last committed run, value now) for each param a stage tracks that differs
    between dvc.lock at git HEAD and params.yaml; None when HEAD holds no dvc.lock."""
    text = _git(root, "show", "HEAD:dvc.lock")
    params_path = root / "params.yaml"
    if text is None or not params_path.is_file():
        return None
    old: dict[str, Any] = {}
    for stage in (yaml.safe_load(text) or {}).get("stages", {}).values():
        old.update(flatten((stage.get("params") or {}).get("params.yaml", {})))
    now = flatten(yaml.safe_load(params_path.read_text()) or {})
    changed = []
    for key in sorted(old):
        new = now.get(key, _nested(now, key))
        if new != old[key]:
            changed.append((key, old[key], new))
    return changed


def _nested(flat: dict[str, Any], key: str) -> Any:
    """A section tracked whole (``sample``) from flattened keys: the dict of its sub-keys, or None."""
    sub = {k[len(key) + 1:]: v for k, v in flat.items() if k.startswith(key + ".")}
    return sub or None


def _add_args(parser) -> None:
    parser.add_argument("--reports", type=Path, default=Path("reports"),
                        help="the pipeline's reports folder (reads eval/comparison.json; default: reports)")


def _run(args) -> None:
    print(end_of_run(args.reports))


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m training summary", __doc__, None, None, _add_args, _run, argv)
