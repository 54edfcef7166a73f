"""rembg sessions (U2Net human segmentation, ISNet, BiRefNet, ...) as ensemble members.

Member names are ``rembg-<model>``: ``rembg-u2net_human_seg``, ``rembg-isnet-general-use``,
``rembg-birefnet-portrait``. rembg downloads weights on first use; this machine is offline, so the
file must already be on disk, and a missing one stops with an error naming the file and the setting:

- ``autolabel.models.rembg_files[<model>]``: an explicit path; models with a ``*_custom`` session in
  rembg (the U2Net family: ``u2net_custom``; ISNet: ``dis_custom``) run any ONNX file that way.
- otherwise ``<rembg home>/<model>.onnx``, the home being ``$U2NET_HOME`` when set, else
  ``model_dir/rembg`` (``autolabel.models.rembg_dir``), as rembg's own download would place it.

rembg min-max normalises U2Net outputs per image (``u2net_custom``), so an image without a person
still gets a full 0..1 range: treat U2Net members as relative, not calibrated, probabilities.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from labeling.members.base import Member, MemberSettings, ModelFileMissing, check_rgb, resize_alpha

PREFIX = "rembg-"
# rembg model name -> rembg session that runs a given ONNX file with that model's preprocessing
CUSTOM_SESSIONS = {
    "u2net": "u2net_custom",
    "u2netp": "u2net_custom",
    "u2net_human_seg": "u2net_custom",
    "silueta": "u2net_custom",
    "isnet-general-use": "dis_custom",
    "isnet-anime": "dis_custom",
}
_ENV_LOCK = threading.Lock()  # U2NET_HOME is process-wide: set it only around session creation


class RembgMember(Member):
    """A rembg session for ``model``; the file is found as the module docstring says."""

    def __init__(self, model: str, settings: MemberSettings):
        self.name = PREFIX + model
        self.model = model
        if model in settings.rembg_files:
            path = settings.resolve(settings.rembg_files[model])
            setting = f"autolabel.models.rembg_files.{model}"
        else:
            home, setting = settings.rembg_home()
            path = home / f"{model}.onnx"
        if not path.is_file():
            raise ModelFileMissing(path, setting, self.name)
        self.path = path
        self._session = _new_session(model, path)

    def predict(self, rgb: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
        rgb = check_rgb(rgb, self.name)
        mask = self._session.predict(Image.fromarray(rgb))[0]
        return resize_alpha(np.asarray(mask, np.float32) / 255.0, *rgb.shape[:2])


def _new_session(model: str, path: Path):
    from rembg import new_session
    from rembg.sessions import sessions_names

    options = {"providers": ["CPUExecutionProvider"]}
    if model in CUSTOM_SESSIONS:
        return new_session(CUSTOM_SESSIONS[model], model_path=str(path), **options)
    if model not in sessions_names:
        raise ValueError(f"`{PREFIX}{model}`: rembg has no model `{model}`; known: {sorted(sessions_names)}")
    with _ENV_LOCK:  # rembg finds <U2NET_HOME>/<model>.onnx itself (and would download it if absent)
        old = os.environ.get("U2NET_HOME")
        os.environ["U2NET_HOME"] = str(path.parent)
        try:
            return new_session(model, **options)
        finally:
            if old is None:
                del os.environ["U2NET_HOME"]
            else:
                os.environ["U2NET_HOME"] = old
