"""Fixtures shared by every test package."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from core import env, io, processes
from datasets.store import Sample, sample_id, write_tables

env.apply()  # the entry points' environment defaults (offline, quiet, project-local FiftyOne and Prefect homes)

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def require_shared(path: Path) -> Path:
    """``path`` (the sibling ../shared folder) when it exists. A user's fresh clone has none: the tests
    that read it skip, naming the folder. CI always has it, so there (env CI set) its absence fails them."""
    if not path.is_dir():
        why = f"{path} is missing (../shared beside the repository holds the real data and models these tests read)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must provide it")
        pytest.skip(why)
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The sibling ../shared folder (real COCO128, backgrounds, ONNX models); see require_shared."""
    return require_shared((REPO_ROOT / ".." / "shared").resolve())


def _person_image(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured background with a head-and-shoulders blob cut by the bottom edge."""
    yy, xx = np.mgrid[0:height, 0:width]
    bg = rng.integers(40, 200, size=3)
    image = np.empty((height, width, 3), np.uint8)
    image[:] = bg
    image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    cx = width * rng.uniform(0.35, 0.65)
    head = ((xx - cx) / (0.12 * width)) ** 2 + ((yy - 0.38 * height) / (0.2 * height)) ** 2 <= 1
    body = (np.abs(xx - cx) <= 0.3 * width) & (yy >= 0.55 * height)
    alpha = ((head | body) * 255).astype(np.uint8)
    fg = rng.integers(0, 255, size=3)
    image[alpha > 0] = fg
    return image, alpha


@pytest.fixture
def tiny_store(tmp_path):
    """Factory: ``tiny_store(n=6, size=(96, 64), source='tiny')`` -> Path of a real sample store.

    Each sample is a PNG image with one person blob touching the bottom edge and a hard alpha.
    """

    def make(n: int = 6, size: tuple[int, int] = (96, 64), source: str = "tiny", seed: int = 0,
             root: Path | None = None) -> Path:
        root = root or tmp_path / f"store-{source}"
        rng = np.random.default_rng(seed)
        width, height = size
        samples = []
        for i in range(n):
            origin = f"img_{i:03d}.png"
            sid = sample_id(source, origin)
            image, alpha = _person_image(rng, width, height)
            io.write_png(root / "images" / f"{sid}.png", image)
            io.write_png(root / "alpha" / f"{sid}.png", alpha)
            split = ("train", "val", "test")[i % 3]
            samples.append(Sample(id=sid, source=source, split=split, image=f"images/{sid}.png",
                                  alpha=f"alpha/{sid}.png", ignore=None, width=width, height=height,
                                  persons=1, label_kind="mask", origin=origin))
        write_tables(root, samples, [])
        return root

    return make


def open_in_chromium(html_path: Path, evaluate: dict[str, str] | None = None,
                     screenshot: Path | None = None) -> dict:
    """Load a local HTML file in Debian's headless Chromium (via Playwright, no browser download).

    Returns the URLs the page requested (other than itself and data: URIs), the number of <img>
    elements, how many of them decoded (naturalWidth > 0), the page's text, and under each key of
    ``evaluate`` what its JavaScript expression gave. ``screenshot``: a full-page PNG is written there.
    """
    from playwright.sync_api import sync_playwright

    url = html_path.resolve().as_uri()
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
            text = page.inner_text("body")
            results = {key: page.evaluate(expression) for key, expression in (evaluate or {}).items()}
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    external = [u for u in requests if u != url and not u.startswith("data:")]
    return {"external_requests": external, "images": len(images), "decoded": sum(images), "text": text, **results}


@pytest.fixture(scope="session")
def chromium():
    """The page checker; fails clearly when Debian's chromium is missing (`make test` installs it)."""
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("/usr/bin/chromium is missing: run `make test` (it installs Debian's chromium)")
    return open_in_chromium


# Label Studio: one real server per test session (first start ~40-60 s: migrations), shared by the
# labeling tests and the label-round flow test, so it lives here.
@pytest.fixture(scope="session")
def studio_params(tmp_path_factory, repo_root):
    """StudioParams for a real Label Studio server on a free port, data dir and document root in tmp."""
    from labeling.studio import StudioParams

    base = tmp_path_factory.mktemp("labelstudio")
    (base / "docroot").mkdir()
    return StudioParams(port=processes.free_port(), data_dir=str(base / "data"), document_root=str(base / "docroot"),
                        server_bin=str(repo_root / ".venv-ls" / "bin" / "label-studio"), start_timeout_s=300,
                        request_timeout_s=60)


@pytest.fixture(scope="session")
def studio_server(studio_params):
    """A real Label Studio server (started once per session; ~35-60 s: migrations), stopped after."""
    from labeling.studio_server import start_server

    with pytest.MonkeyPatch.context() as mp:
        for var in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_USER_TOKEN", "LABEL_STUDIO_USERNAME",
                    "LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", "LABEL_STUDIO_BASE_DATA_DIR"):
            mp.delenv(var, raising=False)
        server = start_server(studio_params)
        try:
            yield server
        finally:
            left = server.stop()
            assert not left, f"Label Studio processes {left} still alive after stop"


