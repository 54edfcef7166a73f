"""`python -m training video --input IN.mp4 --output OUT.mp4 (--background IMG | --blur)`.

The whole path a video call takes: decode, segment, replace or blur the background, encode.
- Temporal smoothing: MODNet's one-frame delay (OFD). Output lags one frame; where the alpha of
  frame t-1 differs from both neighbours while t-2 and t agree (a flicker), it is replaced by the
  neighbours' mean.
- Skip: segmentation is skipped (the last alpha reused) while the person's edge band does not
  change: the mean absolute grey-level difference on the band, between the frame and the last
  segmented frame, stays under ``skip_threshold`` (at most ``max_skip`` frames in a row). With no
  edge in view, the largest 8x8-block mean difference decides instead.
- 4-channel models get the previous alpha as their prior.
Reports frames, the share of frames skipped and the end-to-end fps (decode to encode).
"""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from core import io
from core import cli
from core.cli import stage_main
from datasets.masks import edge_band
from training.bench import Compositor
from training.predict import load_predictor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoParams:
    """params.yaml `video:`."""
    smoothing: bool = True  # MODNet one-frame-delay flicker removal (output lags one frame)
    ofd_threshold: int = 25  # alpha difference (0..255) above which a pixel counts as changed, for OFD
    skip: bool = True  # skip segmentation while the edge band does not change
    skip_threshold: float = 3.0  # mean |grey difference| (0..255) on the band under which a frame is skipped
    band_width: int = 3  # half-width (pixels at the 256-px analysis size) of the edge band
    max_skip: int = 8  # segment at least every max_skip + 1 frames
    analysis_width: int = 256  # width of the grey frames compared for the skip decision
    blur_sigma: float = 12.0  # Gaussian sigma (frame pixels) of --blur
    model_threads: int = 1  # intra-op threads of the model's runtime (0 = every CPU; see evaluate.model_threads)
    codec: str = "mp4v"  # FourCC of the output


def one_frame_delay(prev2: np.ndarray, prev: np.ndarray, cur: np.ndarray, threshold: int) -> np.ndarray:
    """MODNet's OFD on uint8 alphas: pixels of ``prev`` that flicker (t-2 and t agree, t-1 differs from
    both by more than ``threshold``) become the mean of t-2 and t. Returns the smoothed ``prev``."""
    agree = cv2.absdiff(prev2, cur) <= threshold
    flicker = agree & (cv2.absdiff(prev, prev2) > threshold) & (cv2.absdiff(prev, cur) > threshold)
    if not flicker.any():
        return prev
    out = prev.copy()
    out[flicker] = ((prev2[flicker].astype(np.uint16) + cur[flicker]) // 2).astype(np.uint8)
    return out


def blur_background(frame: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of ``sigma`` frame pixels, computed at 1/4 size (same look, ~10x cheaper at 720p)."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, sigma / 4))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def fit_background(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale and centre-crop ``image`` to cover (height, width)."""
    h, w = image.shape[:2]
    s = max(width / w, height / h)
    big = cv2.resize(image, (max(width, round(w * s)), max(height, round(h * s))), interpolation=cv2.INTER_AREA)
    y, x = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return np.ascontiguousarray(big[y:y + height, x:x + width])


class EdgeSkipper:
    """Decides per frame whether segmentation can be skipped (see the module docstring)."""

    def __init__(self, params: VideoParams, width: int, height: int):
        self.p = params
        self.size = (params.analysis_width, max(8, round(params.analysis_width * height / width)))
        self.reference: np.ndarray | None = None  # grey analysis frame at the last segmentation
        self.band: np.ndarray | None = None
        self.run = 0

    def grey(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)

    def can_skip(self, grey: np.ndarray) -> bool:
        if not self.p.skip or self.reference is None or self.run >= self.p.max_skip:
            return False
        diff = cv2.absdiff(grey, self.reference)
        if self.band.any():
            return float(diff[self.band].mean()) < self.p.skip_threshold
        # no edge (nobody in view, or only person): any local change (someone entering) must count,
        # so the largest 8x8-block mean decides
        h, w = diff.shape
        blocks = cv2.resize(diff, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
        return float(blocks.max()) < self.p.skip_threshold

    def segmented(self, grey: np.ndarray, alpha: np.ndarray) -> None:
        self.reference = grey
        small = cv2.resize(alpha, self.size, interpolation=cv2.INTER_AREA)
        self.band = edge_band(small, self.p.band_width)
        self.run = 0


def _frames(cap) -> Iterator[np.ndarray]:
    """RGB frames of an opened cv2.VideoCapture."""
    while True:
        ok, bgr = cap.read()
        if not ok:
            return
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def convert_video(input_path: Path | str, output_path: Path | str, model: str, background: Path | str | None = None,
                  blur: bool = False, params: VideoParams | None = None, progress: bool = True) -> dict:
    """Segment every frame of ``input_path`` and write the composite to ``output_path``; returns the figures."""
    params = params or VideoParams()
    if (background is None) == (not blur):
        raise ValueError("pass exactly one of a background image or blur=True")
    cap = cv2.VideoCapture(str(input_path))
    if not cap.isOpened():
        raise FileNotFoundError(f"{input_path}: cannot open the video (missing file or unsupported codec)")
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps_in = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    predictor = load_predictor(model, max_threads=params.model_threads)
    bg = fit_background(io.read_image(background), width, height) if background is not None else None
    skipper = EdgeSkipper(params, width, height)
    blend = Compositor()
    frames = skipped = 0
    alpha: np.ndarray | None = None
    pending: list[tuple[np.ndarray, np.ndarray]] = []  # (frame, alpha uint8) of t-2, t-1 for OFD
    t0 = time.perf_counter()
    with io.atomic_path(output_path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*params.codec), fps_in, (width, height))
        if not writer.isOpened():
            raise RuntimeError(f"{output_path}: cannot open a {params.codec!r} video writer for {width}x{height}")

        def emit(frame: np.ndarray, a: np.ndarray) -> None:
            back = bg if bg is not None else blur_background(frame, params.blur_sigma)
            writer.write(cv2.cvtColor(blend(frame, a, back), cv2.COLOR_RGB2BGR))

        decoded = _frames(cap)
        if progress:
            decoded = cli.progress(decoded, desc=f"video {Path(input_path).name}", total=total)
        for frame in decoded:
            grey = skipper.grey(frame)
            if alpha is not None and skipper.can_skip(grey):
                skipped += 1
                skipper.run += 1
            else:
                prior = None if alpha is None else alpha.astype(np.float32) / 255.0
                alpha = cv2.convertScaleAbs(predictor.predict(frame, prior), alpha=255.0)
                skipper.segmented(grey, alpha)
            frames += 1
            pending.append((frame, alpha))
            if not params.smoothing:
                emit(*pending.pop())
                continue
            if len(pending) == 3:
                smoothed = one_frame_delay(pending[0][1], pending[1][1], pending[2][1], params.ofd_threshold)
                pending[1] = (pending[1][0], smoothed)
                emit(*pending.pop(0))
        for frame, a in pending:  # flush the delayed frames
            emit(frame, a)
        writer.release()
        cap.release()
        if frames == 0:
            raise ValueError(f"{input_path}: no frames could be decoded")
    seconds = time.perf_counter() - t0
    figures = {"frames": frames, "skipped": skipped, "skipped_share": round(skipped / frames, 4),
               "seconds": round(seconds, 3), "fps": round(frames / seconds, 1), "width": width, "height": height}
    log.info("%s -> %s: %d frames at %.1f fps, %.0f%% skipped", input_path, output_path, frames, figures["fps"],
             100 * figures["skipped_share"])
    return figures


def _add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", type=Path, required=True, help="video to read")
    parser.add_argument("--output", type=Path, required=True, help="video to write (.mp4)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--background", type=Path, help="replace the background with this image")
    group.add_argument("--blur", action="store_true", help="blur the background")
    parser.add_argument("--model", default="models/matting.onnx", help=".onnx / .pt / baseline name")


def main(argv: list[str] | None = None) -> int:
    return stage_main("python -m training video", __doc__, "video", VideoParams, _add_args,
                      lambda params, args: convert_video(args.input, args.output, args.model, args.background,
                                                         args.blur, params),
                      argv, metrics_help="write fps and skipped share here (JSON)")
