"""Video smoke: a short clip built with cv2.VideoWriter goes through convert_video and main([...])."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from core import io
from training.__main__ import main as training_main
from training.video import VideoParams, convert_video, one_frame_delay


@pytest.fixture
def clip(tmp_path):
    """24 frames, 160x90: a 'person' blob that moves every 8 frames on a still background."""
    path = tmp_path / "in.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12, (160, 90))
    for i in range(24):
        frame = np.full((90, 160, 3), 90, np.uint8)
        frame[:, :50] = 160
        cx = 80 + 10 * (i // 8)
        cv2.circle(frame, (cx, 35), 15, (40, 60, 200), -1)
        cv2.rectangle(frame, (cx - 25, 55), (cx + 25, 90), (40, 60, 200), -1)
        writer.write(frame)
    writer.release()
    return path


def read_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def test_convert_video_with_background(tiny_checkpoint, clip, tmp_path):
    background = tmp_path / "bg.png"
    io.write_png(background, np.full((50, 80, 3), (0, 255, 0), np.uint8))
    out = tmp_path / "out.mp4"
    figures = convert_video(clip, out, str(tiny_checkpoint()), background=background, progress=False)
    frames = read_frames(out)
    assert len(frames) == figures["frames"] == 24
    assert frames[0].shape == (90, 160, 3)
    assert 0 < figures["skipped"] < 24 and figures["fps"] > 0  # still stretches are skipped, moves are not


def test_video_main_blur_without_smoothing_or_skip(tiny_checkpoint, clip, params_file, tmp_path):
    out, metrics = tmp_path / "blur.mp4", tmp_path / "video.json"
    params = params_file(video={"skip": False, "smoothing": False})
    assert training_main(["video", "--input", str(clip), "--output", str(out), "--blur", "--model",
                          str(tiny_checkpoint()), "--params", str(params), "--metrics", str(metrics)]) == 0
    figures = json.loads(metrics.read_text())
    assert figures["frames"] == 24 and figures["skipped"] == 0
    assert len(read_frames(out)) == 24


def test_one_frame_delay_removes_a_flicker_only():
    still = np.zeros((2, 3), np.uint8)
    blink = still.copy()
    blink[0, 0] = 200  # appears for one frame only
    moved = still.copy()
    moved[1, 2] = 200
    out = one_frame_delay(still, blink, still, 25)
    assert out[0, 0] == 0
    kept = one_frame_delay(still, moved, moved, 25)  # a real change persists: kept
    assert kept[1, 2] == 200


def test_video_needs_one_of_background_or_blur(tiny_checkpoint, clip, tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        convert_video(clip, tmp_path / "o.mp4", str(tiny_checkpoint()), params=VideoParams(), progress=False)
