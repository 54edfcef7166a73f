"""`python -m training release`: ship the release pipeline's model as ``training/weights/``.

After the release pipeline has run (`make release`: release/pipeline.yaml), this writes, atomically:

```
OUT/matting.pt      weights only: {"model_args", "model"} (no optimizer state), <= 3 MB
OUT/matting.onnx    the exported fp32 ONNX, as evaluated
OUT/MODEL_CARD.md   data (sources, sample counts, content hashes from the run's dvc.lock), params, the
                    command that reproduces it, metrics beside both MediaPipe models per real test
                    split, the fps table, the ablation (``--ablation``, measured separately), limits
```
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2
import yaml

from core import io
from core.cli import comma_list, stage_main
from core.config import load_section, read_params
from training import summary
from training.checkpoint import model_from_state, read_checkpoint, save_weights
from training.model import MattingNet, count_parameters
from training.predict import PredictParams, scaled_size
from training.train import TrainParams

log = logging.getLogger(__name__)
MAX_BYTES = 3 * 1024 * 1024  # the house rule for a committed weights file
TEMPLATE = Path(__file__).with_name("model_card.md.j2")


def lock_hashes(lock: Path, prefix: str) -> dict[str, str]:
    """Output path -> md5 of every stage output in a dvc.lock whose path starts with ``prefix``."""
    data = yaml.safe_load(lock.read_text()) if lock.is_file() else {}
    hashes = {}
    for stage in (data or {}).get("stages", {}).values():
        for out in stage.get("outs", []):
            if str(out["path"]).startswith(prefix) and "md5" in out:
                hashes[out["path"]] = out["md5"]
    return dict(sorted(hashes.items()))


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def card(run: Path, params_file: Path, model: MattingNet, state: dict[str, Any], ablation: str,
         splits: list[str]) -> str:
    """The model card's Markdown for the release run under ``run`` (its reports/ and dvc.lock)."""
    reports = run / "reports"
    evaluations = {}
    for split in splits:
        comparison = summary.load_file(reports / "eval" / split / "comparison.json")
        if comparison is None:
            raise FileNotFoundError(f"{reports / 'eval' / split / 'comparison.json'}: no evaluation of test split "
                                    f"{split!r} (run `make release` first)")
        evaluations[split] = {"table": summary.markdown_table(comparison), "verdict": summary.verdict(comparison),
                              "full": (reports / "eval" / split / "comparison.md").read_text()}
    sources = read_params(params_file).get("sources", {})
    ingest = {name: _json(reports / "ingest" / f"{name}.json") for name in sources}
    train = load_section("train", TrainParams, params_file)
    predict = load_section("predict", PredictParams, params_file)
    # the checkpoint's own last-epoch figures ({"val/iou", "val/mad", ...}): they belong to these weights
    figures = dict(state.get("metrics", {}), steps=state.get("step"), epochs=state.get("epoch", -1) + 1)
    if "val/iou" not in figures:
        raise ValueError(f"{run / 'models' / 'matting.pt'}: the checkpoint records no validation figures (`val/iou`); "
                         "train with val samples in the store (rerun `make release`)")
    return jinja2.Template(TEMPLATE.read_text(), undefined=jinja2.StrictUndefined, trim_blocks=True,
                           lstrip_blocks=True).render(
        run=run, params_file=params_file, sources=sources, ingest=ingest, curate=_json(reports / "curate.json"),
        synthesize=_json(reports / "synthesize" / "metrics.json"), testclips=_json(reports / "testclips.json"), hashes=lock_hashes(run / "dvc.lock", str(run)),
        model_args=model.model_args(), parameters=count_parameters(model), train=asdict(train), predict=asdict(predict),
        run_size=scaled_size(model.config.input_width, model.config.input_height, predict.input_scale),
        figures=figures, evaluations=evaluations, ablation=ablation.strip(), export=_json(reports / "export.json"))


def run(run_dir: Path, params_file: Path, out: Path, ablation: Path | None, splits: list[str]) -> dict:
    checkpoint, onnx = run_dir / "models" / "matting.pt", run_dir / "models" / "matting.onnx"
    for path in (checkpoint, onnx):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (run `make release` first)")
    state = read_checkpoint(checkpoint)  # read once: the card's figures and the weights both come from it
    model = model_from_state(state, str(checkpoint))
    text = card(run_dir, params_file, model, state, ablation.read_text() if ablation else "", splits)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(out / "matting.pt", model)
    with io.atomic_path(out / "matting.onnx") as tmp:
        shutil.copyfile(onnx, tmp)
    io.write_text(out / "MODEL_CARD.md", text)
    sizes = {name: (out / name).stat().st_size for name in ("matting.pt", "matting.onnx")}
    for name, size in sizes.items():
        if size > MAX_BYTES:
            raise ValueError(f"{out / name}: {size} bytes, over the {MAX_BYTES}-byte limit for committed weights "
                             "(shrink `model:`)")
    log.info("release written to %s: %s", out, ", ".join(f"{k} {v / 1024:.0f} KB" for k, v in sizes.items()))
    return sizes


def _add_args(parser) -> None:
    parser.add_argument("--run", type=Path, default=Path("release"),
                        help="the release pipeline's folder (dvc.yaml, dvc.lock, models/, reports/)")
    parser.add_argument("--params", type=Path, default=Path("release/params.yaml"), help="its params profile")
    parser.add_argument("--splits", type=comma_list, default="ccp-voc,portraits",
                        help="comma-separated evaluated test splits")
    parser.add_argument("--ablation", type=Path, default=Path("release/ABLATION.md"),
                        help="Markdown of the measured ablation, put into the card as it is")
    parser.add_argument("--out", type=Path, default=Path("training/weights"), help="where the release goes")


def _run(args) -> dict:
    sizes = run(args.run, args.params, args.out, args.ablation if args.ablation.is_file() else None,
                args.splits or [])
    return {"bytes": sizes}


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m training release", __doc__, None, None, _add_args, _run, argv,
                      metrics_help="write the released files' sizes here (JSON)")
