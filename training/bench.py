"""End-to-end speed: frames/second of the whole path a video call takes, per model, in one run.

The library behind every fps figure: ``python -m training evaluate``'s fps rows and the one fps tool,
``benchmarks/fps.py`` (tables, ratios against MediaPipe, the per-part split).

One frame = resize to the model's input, inference, upsample the alpha to the frame, composite onto
a background (``Compositor``: buffers reused across frames, as a real-time pipeline would). Rows for 640x360, 1280x720 and 1920x1080, with one thread and with all
threads; the predictors are timed interleaved (frame by frame) so a busy machine slows them alike.
"Single thread" pins every thread of the process to one CPU (so MediaPipe's own threads are limited
too) and sets torch / onnxruntime / OpenCV to one thread.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

log = logging.getLogger(__name__)

FRAME_SIZES = {"640x360": (640, 360), "1280x720": (1280, 720), "1920x1080": (1920, 1080)}
THREAD_MODES = ("1t", "all")


def composite(frame: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """frame * alpha + background * (1 - alpha) in 8-bit fixed point.

    frame, background: (H, W, 3) uint8; alpha: (H, W) float32 in [0, 1] or uint8 -> (H, W, 3) uint8.
    """
    a = alpha if alpha.dtype == np.uint8 else cv2.convertScaleAbs(alpha, alpha=255.0)
    a3 = cv2.merge([a, a, a])
    fg = cv2.multiply(frame, a3, scale=1.0 / 255.0)
    bg = cv2.multiply(background, cv2.bitwise_not(a3), scale=1.0 / 255.0)
    return cv2.add(fg, bg)


class Compositor:
    """``composite`` into buffers kept across frames, as a real-time pipeline does.

    Fresh multi-megabyte temporaries every frame cost page faults that can take longer than the
    blend itself (measured: 0.9 ms -> 5 ms at 1280x720 when interleaved with inference). The
    returned array is reused by the next call: copy it to keep it.
    """

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = np.empty(shape, np.uint8)
        return buf

    def __call__(self, frame: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
        h, w = alpha.shape
        a = alpha if alpha.dtype == np.uint8 else cv2.convertScaleAbs(alpha, self._buffer("a", (h, w)), alpha=255.0)
        a3 = cv2.merge([a, a, a], self._buffer("a3", (h, w, 3)))
        fg = cv2.multiply(frame, a3, self._buffer("fg", (h, w, 3)), scale=1.0 / 255.0)
        inv = cv2.bitwise_not(a3, self._buffer("inv", (h, w, 3)))
        bg = cv2.multiply(background, inv, self._buffer("bg", (h, w, 3)), scale=1.0 / 255.0)
        return cv2.add(fg, bg, self._buffer("out", (h, w, 3)))


def all_cpus() -> set[int]:
    return set(os.sched_getaffinity(0))


def _set_process_affinity(cpus: set[int]) -> None:
    """Pin every existing thread of this process (and, by inheritance, new ones) to ``cpus``."""
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.sched_setaffinity(int(tid), cpus)


@contextlib.contextmanager
def thread_limit(mode: str, predictors: list) -> Iterator[int]:
    """Run the block with one thread ('1t') or all CPUs ('all'); yields the thread count."""
    import torch

    if mode not in THREAD_MODES:
        raise ValueError(f"thread mode should be one of {THREAD_MODES}, got {mode!r}")
    cpus = all_cpus()
    threads = 1 if mode == "1t" else len(cpus)
    old_torch, old_cv2 = torch.get_num_threads(), cv2.getNumThreads()
    if mode == "1t":
        _set_process_affinity({min(cpus)})
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    for p in predictors:
        p.set_threads(threads)
    try:
        yield threads
    finally:
        _set_process_affinity(cpus)
        torch.set_num_threads(old_torch)
        cv2.setNumThreads(old_cv2)


def test_frame(width: int, height: int, image: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """A (height, width, 3) uint8 frame: ``image`` resized, or a seeded smooth random picture."""
    if image is None:
        rng = np.random.default_rng(seed)
        image = cv2.resize(rng.integers(0, 256, (9, 16, 3), dtype=np.uint8), (64, 36), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))


def time_end_to_end(predictors: dict, frame: np.ndarray, background: np.ndarray, frames: int,
                    warmup: int = 3) -> dict[str, float]:
    """Median seconds per frame for each predictor (timed interleaved)."""
    times: dict[str, list[float]] = {name: [] for name in predictors}
    blend = Compositor()
    for i in range(warmup + frames):
        for name, predictor in predictors.items():
            t0 = time.perf_counter()
            blend(frame, predictor.predict(frame), background)
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def fps_table(predictors: dict, frames: int = 30, sizes: dict[str, tuple[int, int]] | None = None,
              modes: tuple[str, ...] = THREAD_MODES, image: np.ndarray | None = None) -> list[dict]:
    """Rows ``{model, size, threads, fps, ms}`` for every predictor x size x thread mode."""
    rows = []
    for mode in modes:
        with thread_limit(mode, list(predictors.values())) as threads:
            for size, (w, h) in (sizes or FRAME_SIZES).items():
                frame = test_frame(w, h, image)
                background = test_frame(w, h, None, seed=1)
                for name, seconds in time_end_to_end(predictors, frame, background, frames).items():
                    rows.append({"model": name, "size": size, "threads": mode, "n_threads": threads,
                                 "fps": round(1.0 / seconds, 1), "ms": round(seconds * 1e3, 2)})
                    log.info("fps %s %s %s: %.1f", name, size, mode, 1.0 / seconds)
    return rows


def breakdown(predictor, frame: np.ndarray, background: np.ndarray, frames: int, warmup: int = 3) -> dict[str, float]:
    """Median ms per part of one frame for a predictor that can time its parts (``predict_timed``):
    resize, inference, upsample, composite, and their sum ``total``."""
    parts: dict[str, list[float]] = {}
    blend = Compositor()
    for i in range(warmup + frames):
        alpha, seconds = predictor.predict_timed(frame)
        t0 = time.perf_counter()
        blend(frame, alpha, background)
        seconds["composite"] = time.perf_counter() - t0
        if i >= warmup:
            for k, v in seconds.items():
                parts.setdefault(k, []).append(v)
    out = {k: round(float(np.median(v)) * 1e3, 3) for k, v in parts.items()}
    out["total"] = round(sum(out.values()), 3)
    return out


def fps_metrics(rows: list[dict], model: str) -> dict[str, float]:
    """``fps`` (1280x720, one thread) plus ``fps_<size>_<mode>`` for every row of ``model``."""
    out = {f"fps_{r['size']}_{r['threads']}": r["fps"] for r in rows if r["model"] == model}
    out["fps"] = out.get("fps_1280x720_1t", next(iter(out.values()), float("nan")))
    return out


def format_table(rows: list[dict]) -> str:
    """A markdown table: one line per model x threads, one column per frame size."""
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    keys = list(dict.fromkeys((r["model"], r["threads"]) for r in rows))
    cell = {(r["model"], r["threads"], r["size"]): r for r in rows}
    lines = ["| model | threads | " + " | ".join(f"{s} fps (ms)" for s in sizes) + " |",
             "|---|---|" + "---|" * len(sizes)]
    for model, mode in keys:
        cells = [f"{cell[(model, mode, s)]['fps']:.1f} ({cell[(model, mode, s)]['ms']:.2f})"
                 if (model, mode, s) in cell else "" for s in sizes]
        lines.append(f"| {model} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
