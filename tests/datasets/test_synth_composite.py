"""Compositing, harmonisation, light wrap, camera effects, foreground decontamination, backgrounds."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.synthesis import backgrounds as bgs
from datasets.synthesis import camera as cam
from datasets.synthesis import composite as comp
from datasets.synthesis.foreground import estimate_foreground


@pytest.fixture
def layers():
    rng = np.random.default_rng(0)
    fg = rng.integers(0, 256, (36, 64, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (36, 64, 3), dtype=np.uint8)
    alpha = np.zeros((36, 64), np.uint8)
    alpha[8:28, 16:48] = 255
    alpha[8:28, 12:16] = np.array([40, 90, 150, 210], np.uint8)  # a soft edge
    return fg, bg, alpha


def test_composite_equation_holds_where_alpha_is_0_and_1(layers):
    fg, bg, alpha = layers
    image = comp.composite(fg, bg, alpha)
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image[alpha == 255], fg[alpha == 255].astype(np.float32))
    np.testing.assert_array_equal(image[alpha == 0], bg[alpha == 0].astype(np.float32))
    soft = (alpha > 0) & (alpha < 255)
    a = alpha[soft].astype(np.float32)[:, None] / 255
    np.testing.assert_allclose(image[soft], a * fg[soft] + (1 - a) * bg[soft], atol=1e-3)


def test_harmonise_moves_the_person_towards_the_background_colour():
    fg = np.full((40, 40, 3), (200, 60, 60), np.uint8)
    bg = np.full((40, 40, 3), (40, 60, 200), np.uint8)
    alpha = np.zeros((40, 40), np.uint8)
    alpha[10:30, 10:30] = 255

    def lab_mean(img):
        return cv2.cvtColor(img, cv2.COLOR_RGB2LAB)[10:30, 10:30].reshape(-1, 3).astype(float).mean(axis=0)

    before = np.abs(lab_mean(fg) - lab_mean(bg))[1:]
    out = comp.harmonise(fg, alpha, bg, 0.5)
    after = np.abs(lab_mean(out) - lab_mean(bg))[1:]
    assert np.all(after < 0.7 * before)
    np.testing.assert_array_equal(out[alpha == 0], fg[alpha == 0])  # outside the person box: untouched
    np.testing.assert_array_equal(comp.harmonise(fg, alpha, bg, 0.0), fg)


def test_light_wrap_touches_only_the_person_near_its_edge(layers):
    fg, bg, alpha = layers
    image = comp.composite(fg, bg, alpha)
    wrapped = comp.light_wrap(image, bg, alpha, radius=2, strength=0.5)
    changed = np.any(np.abs(wrapped - image) > 1e-3, axis=2)
    assert changed.any()
    assert not changed[alpha == 0].any()
    interior = cv2.erode((alpha == 255).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert not changed[interior].any()


def test_camera_effects_draw_within_ranges_and_noise_is_deterministic():
    params = cam.CameraParams()
    rng = np.random.default_rng(0)
    cams = [cam.draw_camera(rng, params) for _ in range(200)]
    assert all(params.jpeg_quality[0] <= c.jpeg_quality <= params.jpeg_quality[1] for c in cams)
    assert {c.jpeg_quality for c in cams} >= {params.jpeg_quality[0], params.jpeg_quality[1]}
    assert 0.5 < np.mean([c.noise_std > 0 for c in cams]) < 0.9
    image = np.full((36, 64, 3), 128, np.float32)
    c = cam.Camera(exposure_ev=0.0, blur_sigma=0.0, noise_std=5.0, jpeg_quality=90, noise_seed=3)
    a, b = cam.apply_camera(image, c), cam.apply_camera(image, c)
    np.testing.assert_array_equal(a, b)
    assert 3.5 < a.astype(float).std() < 6.5
    plain = cam.Camera(exposure_ev=1.0, blur_sigma=0.0, noise_std=0.0, jpeg_quality=90, noise_seed=3)
    assert np.all(cam.apply_camera(image, plain) == 255)  # +1 stop doubles 128 (clipped)


def test_decontamination_removes_the_old_background_at_the_edge():
    """A red person on green, with a soft edge: the estimated foreground at the edge is red, not a mix."""
    h, w = 60, 80
    x = np.arange(w, dtype=np.float32)
    alpha_f = np.clip((x - 30) / 20, 0, 1)[None, :].repeat(h, axis=0)  # a 20 px soft ramp
    red, green = np.array([220, 30, 30], np.float32), np.array([30, 200, 30], np.float32)
    image = (alpha_f[..., None] * red + (1 - alpha_f[..., None]) * green).round().astype(np.uint8)
    alpha = (alpha_f * 255).round().astype(np.uint8)
    fg = estimate_foreground(image, alpha, max_side=320, keep_inside=2)
    edge = (alpha > 50) & (alpha < 200)
    assert np.abs(fg[edge].astype(float) - red).max(axis=1).mean() < 25
    assert np.abs(image[edge].astype(float) - red).max(axis=1).mean() > 60  # the source pixels were mixed


def test_generated_backgrounds_are_deterministic_and_vary():
    a = bgs.room(np.random.default_rng(1), 160, 90)
    b = bgs.room(np.random.default_rng(1), 160, 90)
    c = bgs.room(np.random.default_rng(2), 160, 90)
    assert a.shape == (90, 160, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 5
    assert a.std() > 5  # not a flat colour


def test_background_folder_skips_unreadable_files(tmp_path):
    from core import io

    io.write_png(tmp_path / "room.png", np.full((90, 160, 3), 100, np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    pool = bgs.Backgrounds(tmp_path, (64, 36), 0, bgs.BackgroundParams())
    assert pool.names == ["room.png"]
    assert [s["background"] for s in pool.skipped] == ["broken.jpg"]
    crop = pool.render(bgs.BackgroundCrop(0, 0.8, 0.5, 0.5, True))
    assert crop.shape == (36, 64, 3)
    with pytest.raises(FileNotFoundError, match="backgrounds folder not found"):
        bgs.Backgrounds(tmp_path / "missing", (64, 36), 0, bgs.BackgroundParams())


def test_several_background_folders_pool_their_images_under_their_names(tmp_path):
    from core import io

    io.write_png(tmp_path / "rooms" / "a.png", np.full((90, 160, 3), 40, np.uint8))
    io.write_png(tmp_path / "street" / "sub" / "b.png", np.full((90, 160, 3), 200, np.uint8))
    pool = bgs.Backgrounds([tmp_path / "rooms", tmp_path / "street"], (64, 36), 0, bgs.BackgroundParams())
    assert pool.names == ["rooms/a.png", "street/sub/b.png"]
    grey = [int(pool.render(bgs.BackgroundCrop(i, 1.0, 0.5, 0.5, False)).mean()) for i in range(2)]
    assert grey == [40, 200]
    again = bgs.Backgrounds([tmp_path / "rooms", tmp_path / "street"], (64, 36), 0, bgs.BackgroundParams(),
                            names=pool.names)  # a worker process: no listing, same images
    assert int(again.image(1).mean()) == 200
    io.write_png(tmp_path / "other" / "rooms" / "c.png", np.full((90, 160, 3), 90, np.uint8))
    with pytest.raises(ValueError, match="share a name"):
        bgs.Backgrounds([tmp_path / "rooms", tmp_path / "other" / "rooms"], (64, 36), 0, bgs.BackgroundParams())


def test_a_coco_folder_gives_only_its_images_without_people(tmp_path, monkeypatch):
    import json

    from core import io

    names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    for name in names:
        io.write_jpeg(tmp_path / "val2017" / name, np.full((40, 60, 3), 120, np.uint8))
    polygon = [[5, 5, 30, 5, 30, 30, 5, 30]]
    data = {"images": [{"id": k, "file_name": n, "width": 60, "height": 40} for k, n in enumerate(names)],
            "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
            "annotations": [{"id": 1, "image_id": 0, "category_id": 1, "segmentation": polygon, "iscrowd": 0},
                            {"id": 2, "image_id": 1, "category_id": 18, "segmentation": polygon, "iscrowd": 0},
                            {"id": 3, "image_id": 3, "category_id": 1, "iscrowd": 1,
                             "segmentation": {"counts": [0, 2400], "size": [40, 60]}}]}
    io.write_text(tmp_path / "annotations" / "instances_val2017.json", json.dumps(data))
    pool = bgs.Backgrounds(tmp_path, (64, 36), 0, bgs.BackgroundParams())
    assert pool.names == ["val2017/b.jpg", "val2017/c.jpg"]  # a person (a) and a crowd of people (d) are left out
    monkeypatch.chdir(tmp_path.parent)  # named relative to the working directory, as in a dvc.yaml command
    relative = bgs.Backgrounds(Path(tmp_path.name), (64, 36), 0, bgs.BackgroundParams())
    assert relative.names == pool.names and int(relative.image(1).mean()) == 120


def test_coco128_as_backgrounds_gives_its_67_photos_without_people(shared_dir):
    pool = bgs.Backgrounds([shared_dir / "data" / "coco128", shared_dir / "data" / "backgrounds"], (64, 36), 0,
                           bgs.BackgroundParams())
    coco = [n for n in pool.names if n.startswith("coco128/")]
    assert len(coco) == 67 and len(pool.names) == 67 + len(list((shared_dir / "data" / "backgrounds").iterdir()))
    assert "coco128/train2017/000000000009.jpg" in coco  # no person annotation
    assert "coco128/train2017/000000000036.jpg" not in coco  # a person annotated
