"""End-to-end fps of the matting model against MediaPipe, measured in the same run (prints, never asserts).

    .venv/bin/python benchmarks/fps.py [--model models/matting.onnx] [--model models/matting.int8.onnx]
        [--baseline mediapipe-selfie] [--frames 60] [--image PHOTO] [--edge-filter off --edge-filter grey]
        [--input-scale 1 --input-scale 1.125]

One frame = resize to the model input, inference, upsample the alpha, composite onto a background
(``training.bench``), each part also timed on its own for our models; rows for 640x360, 1280x720 and 1920x1080, one thread and all threads; the
predictors are interleaved frame by frame so a busy machine slows them alike. Ratios are the model's
fps over the first baseline's in the same row. Our models upsample their alpha as ``predict:`` of
params.yaml says; ``--edge-filter`` times each model once per given edge filter instead, ``--input-scale``
once per given ``predict.input_scale`` (each combination of the two when both are given).
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import env  # noqa: E402

env.apply()  # this script is an entry point: the project's environment defaults before torch and co.

from core import io  # noqa: E402
from training import bench  # noqa: E402
from training.model import count_parameters  # noqa: E402
from training.predict import TorchPredictor, load_predictor  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help=".onnx / .pt (repeatable; default models/matting.onnx)")
    parser.add_argument("--baseline", action="append", help="baseline name (repeatable; default both MediaPipe)")
    parser.add_argument("--frames", type=int, default=60, help="timed frames per row (median)")
    parser.add_argument("--image", type=Path, help="photo used as the frame (default: synthetic)")
    parser.add_argument("--model-threads", type=int, default=1,
                        help="cap on our model's intra-op threads (0 = every CPU; evaluate.model_threads)")
    parser.add_argument("--json", type=Path, help="also write the fps rows here (JSON)")
    parser.add_argument("--edge-filter", action="append", choices=["off", "grey", "colour"],
                        help="time our models with this edge filter (repeatable; default: params.yaml's predict)")
    parser.add_argument("--input-scale", action="append", type=float,
                        help="time our models at this predict.input_scale (repeatable; default: params.yaml's predict)")
    args = parser.parse_args(argv)
    baselines = args.baseline or ["mediapipe-selfie", "mediapipe-landscape"]
    predictors = {}
    for path in args.model or ["models/matting.onnx"]:
        for edge, scale in itertools.product(args.edge_filter or [None], args.input_scale or [None]):
            predictor = load_predictor(path, max_threads=args.model_threads)
            changes = {k: v for k, v in (("edge_filter", edge), ("input_scale", scale)) if v is not None}
            predictor.params = dataclasses.replace(predictor.params, **changes)
            tags = ([f"edge {edge}"] if edge is not None else []) + \
                ([f"input x{scale:g} {predictor.run_size[0]}x{predictor.run_size[1]}"] if scale is not None else [])
            predictors[f"{path} [{', '.join(tags)}]" if tags else path] = predictor
    models = list(predictors)
    predictors.update({name: load_predictor(name) for name in baselines})
    for path in args.model or []:
        if path.endswith(".pt"):
            print(f"{path}: {count_parameters(TorchPredictor(path).model)} parameters")
    image = io.read_image(args.image) if args.image else None
    rows = bench.fps_table(predictors, frames=args.frames, image=image)
    print(bench.format_table(rows))
    if args.json:
        io.write_json(args.json, rows)
    reference = {(r["size"], r["threads"]): r["fps"] for r in rows if r["model"] == baselines[0]}
    print(f"\nfps ratio model / {baselines[0]} (same row, same run):")
    for r in rows:
        if r["model"] in models:
            print(f"  {r['model']} {r['size']} {r['threads']}: {r['fps'] / reference[(r['size'], r['threads'])]:.2f}x")
    print("\nours, ms per frame by part (one thread, median; the 360p gap is in these):")
    print("| model | size | resize | inference | upsample | composite | total |\n|---|---|---|---|---|---|---|")
    with bench.thread_limit("1t", list(predictors.values())):
        for size, (w, h) in bench.FRAME_SIZES.items():
            frame, background = bench.test_frame(w, h, image), bench.test_frame(w, h, None, seed=1)
            for name in models:
                p = bench.breakdown(predictors[name], frame, background, args.frames)
                print(f"| {name} | {size} | " + " | ".join(f"{p[k]:.2f}" for k in
                      ("resize", "inference", "upsample", "composite", "total")) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
