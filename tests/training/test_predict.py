"""The predictors' resize: what every fps row and evaluation feeds the model."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from training.predict import downscale


@pytest.mark.parametrize("frame", [(360, 640), (720, 1280), (1080, 1920)])
def test_downscale_stays_close_to_the_antialiased_resize(repo_root, frame):
    """Both paths (one bilinear step below 3x, two steps above) give the model nearly what a full
    INTER_AREA would, on a real photo at each video size."""
    from core import io

    photo = repo_root.parent / "shared" / "data" / "ccp-voc" / "VOC2012" / "JPEGImages" / "0001.jpg"
    if not photo.is_file():
        pytest.skip("../shared/data/ccp-voc is absent")
    rgb = cv2.resize(io.read_image(photo)[:309], frame[::-1], interpolation=cv2.INTER_CUBIC)  # a 16:9 part
    small = downscale(rgb, (256, 144))
    reference = cv2.resize(rgb, (256, 144), interpolation=cv2.INTER_AREA)
    assert small.shape == (144, 256, 3) and small.dtype == np.uint8
    assert np.abs(small.astype(int) - reference.astype(int)).mean() < 2.0  # measured 0.8 / 0.2 / 0.3; a nearest-neighbour resize: 4.5-5.1
