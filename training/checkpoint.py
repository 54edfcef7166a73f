"""Checkpoints: the model's arguments, its weights and the training config in one file.

```
{"model_args": ModelConfig as dict, "model": state_dict, "config": TrainParams as dict,
 "optimizer": ..., "scheduler": ..., "step": int, "epoch": int, "best": float, "rng": {...}, "metrics": {...}}
```
Evaluation and export need only ``model_args`` and ``model`` (nanoGPT-style).
"""
from __future__ import annotations

import hashlib
import logging
import math
from io import BytesIO
from pathlib import Path
from typing import Any

import torch

from core import io
from core.config import from_dict
from training.model import MattingNet, ModelConfig
from training.model.blocks import InvertedResidual, MultiDilatedDepthwise, SqueezeExcite

log = logging.getLogger(__name__)


def save_checkpoint(path: Path | str, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (see the module docstring) with torch.save.

    Saved through a buffer: torch names the archive inside after the file it writes to, and the atomic
    write's temporary name is random, so a path would give the same weights other bytes (and sha256) each time.
    """
    buffer = BytesIO()
    torch.save(state, buffer)
    io.write_bytes(path, buffer.getvalue())


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file's bytes (which weights a run started from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checkpoint(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint (train one with `python -m training train --out {path}`)")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or "model_args" not in state or "model" not in state:
        raise ValueError(f"{path}: not a matting checkpoint (expected keys 'model_args' and 'model', "
                         f"found {sorted(state) if isinstance(state, dict) else type(state).__name__})")
    return state


def load_model(path: Path | str) -> MattingNet:
    """The model of a checkpoint, in eval mode on the CPU."""
    return model_from_state(read_checkpoint(path), str(path))


def model_from_state(state: dict[str, Any], where: str) -> MattingNet:
    """The model of an already read checkpoint ``state``, in eval mode."""
    model = MattingNet(from_dict(ModelConfig, state["model_args"], where=f"{where}:model_args"))
    model.load_state_dict(state["model"])
    return model.eval()


def init_file(path: Path | str) -> Path:
    """``train.init`` as a Path; an error that says what to do when no such file exists."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: `train.init` names no such file (set `train.init: \"\"` in params.yaml "
                                "to train from scratch, or point it at a .pt checkpoint)")
    return path


INPUT_SIZE = ("input_width", "input_height")  # model arguments the weights do not depend on


def init_from(model: MattingNet, path: Path | str) -> None:
    """Load the weights of checkpoint ``path`` into ``model`` (`train.init`); errors name what differs.

    The input size may differ (``input_width``, ``input_height``: the network is convolutional, its
    weights do not depend on it; training at another size fine-tunes the file for it). Two more
    differences are allowed, alone or together, and the grown model computes what the file's did:
    - a deeper encoder (``enc_depths`` larger stage by stage): the file's blocks fill the first blocks
      of each stage and every added block starts as the identity (its last BatchNorm zeroed, so the
      residual adds nothing);
    - the previous-frame prior as a 4th input channel (``in_channels`` 3 -> 4): every weight that reads
      the input (the stem, and the refinement head, which sees the image again) gets zeros for it.
    One more makes a cheaper network that computes nearly what the file's did: the squeeze-excite
    removed (``se_reduction`` to 0), each block's gate folded into its projection (``_without_squeeze_excite``).
    """
    path = init_file(path)
    state = read_checkpoint(path)
    mine, theirs = model.model_args(), state["model_args"]
    differ = {k: (theirs.get(k), mine.get(k)) for k in sorted(set(mine) | set(theirs)) if theirs.get(k) != mine.get(k)}
    widen = differ.get("in_channels") == (3, 4)
    deepen = "enc_depths" in differ and _deepens(theirs["enc_depths"], mine["enc_depths"])
    fold = "se_reduction" in differ and mine.get("se_reduction") == 0
    allowed = {k for k, ok in (("in_channels", widen), ("enc_depths", deepen), ("se_reduction", fold)) if ok} \
        | set(INPUT_SIZE)
    if set(differ) - allowed:
        listed = ", ".join(f"{k}: {a!r} in the file vs {b!r} in params `model:`" for k, (a, b) in differ.items()
                           if k not in allowed)
        raise ValueError(f"{path}: `train.init` is incompatible with params `model:` ({listed}); "
                         "make `model:` match it (`enc_depths` may only grow, `in_channels` only from 3 to 4, "
                         "`se_reduction` only to 0, the input size may change) or set `train.init: \"\"` to train "
                         "from scratch")
    resized = any(k in differ for k in INPUT_SIZE)
    weights = _without_squeeze_excite(model_from_state(state, str(path))) if fold else state["model"]
    weights = _with_prior_channel(model, weights) if widen else weights
    if deepen:
        _load_deepened(model, weights, theirs["enc_depths"])
    else:
        model.load_state_dict(weights)
    log.info("initialised from %s%s%s%s%s", path,
             f", encoder deepened {theirs['enc_depths']} -> {mine['enc_depths']} (added blocks start as the identity)"
             if deepen else "", ", a prior input channel added (its weights start at 0)" if widen else "",
             ", squeeze-excite folded into the projections" if fold else "",
             f", input size {theirs.get('input_width')}x{theirs.get('input_height')} -> "
             f"{mine['input_width']}x{mine['input_height']}" if resized else "")


def _without_squeeze_excite(source: MattingNet) -> dict[str, torch.Tensor]:
    """``source``'s weights for the same network without squeeze-excite (``se_reduction: 0``).

    A block's gate scales the expanded channels before the linear projection; each block's gate is
    evaluated at the mean activation its depthwise BatchNorm gives (``_mean_gate``: no data needed) and
    multiplied into the projection's input channels. What the network loses is the gate's variation
    from image to image. Release 9 so folded scored val IoU 0.939 / 0.894 (ccp-voc / portraits) where
    it scores 0.941 / 0.968, before any fine-tuning (release/ABLATION.md).
    """
    out: dict[str, torch.Tensor] = {}
    blocks = {name: m for name, m in source.named_modules() if isinstance(m, InvertedResidual)}
    for key, value in source.state_dict().items():
        owner = next((name for name in blocks if key.startswith(f"{name}.body.")), None)
        layers = list(blocks[owner].body) if owner else []
        se = next((i for i, m in enumerate(layers) if isinstance(m, SqueezeExcite)), None)
        if se is None:
            out[key] = value
            continue
        index, rest = key[len(f"{owner}.body."):].split(".", 1)
        index = int(index)
        if index == se:
            continue
        if index == se + 1 and rest == "weight":  # the projection right after the gate: (out, expanded, 1, 1)
            depthwise = next(m for m in layers if isinstance(m, MultiDilatedDepthwise))
            value = value * _mean_gate(depthwise, layers[se]).view(1, -1, 1, 1)
        out[f"{owner}.body.{index - (index > se)}.{rest}"] = value
    return out


@torch.no_grad()
def _mean_gate(depthwise: MultiDilatedDepthwise, se: SqueezeExcite) -> torch.Tensor:
    """(C,) the gate at the mean of its input: ReLU of the depthwise BatchNorms' outputs, each channel
    taken as normal with the norm's bias as mean and its weight as deviation; E[ReLU] of N(mu, s^2) is
    mu Phi(mu/s) + s phi(mu/s). Within 0.004-0.066 of release 9's gates averaged over 240 training
    images (their spread from image to image: 0.04-0.07)."""
    mu = torch.cat([branch[1].bias for branch in depthwise.branches])
    s = torch.cat([branch[1].weight for branch in depthwise.branches]).abs().clamp_min(1e-6)
    z = mu / s
    mean = mu * 0.5 * (1 + torch.erf(z / math.sqrt(2))) + s * torch.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return se.weights(mean.view(1, -1, 1, 1)).flatten()  # the pool of a 1x1 map is the map


PRIOR_CHANNEL = 3  # the prior's index among the input channels (RGB first), also where the head concatenates it


def _with_prior_channel(model: MattingNet, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """3-channel ``weights`` for the 4-channel ``model``: a zero slice for the prior wherever a weight reads it.

    A weight of the 4-channel model that is one larger along one dimension reads (or, depthwise, carries)
    the input: it gets the file's weight with zeros inserted at ``PRIOR_CHANNEL`` along that dimension.
    """
    out = dict(weights)
    for key, target in model.state_dict().items():
        have = weights.get(key)
        if have is None or have.shape == target.shape:
            continue
        differ = [d for d in range(have.ndim) if have.shape[d] != target.shape[d]] if have.ndim == target.ndim else []
        if len(differ) != 1 or target.shape[differ[0]] != have.shape[differ[0]] + 1:
            raise ValueError(f"{key}: {tuple(have.shape)} in the file does not grow into {tuple(target.shape)} "
                             "by one prior channel")
        d = differ[0]
        zeros = torch.zeros_like(have.narrow(d, 0, 1))
        out[key] = torch.cat([have.narrow(d, 0, PRIOR_CHANNEL), zeros,
                              have.narrow(d, PRIOR_CHANNEL, have.shape[d] - PRIOR_CHANNEL)], dim=d)
    return out


def _deepens(theirs, mine) -> bool:
    return (isinstance(theirs, list) and len(theirs) == len(mine)
            and all(isinstance(a, int) and a <= b for a, b in zip(theirs, mine)))


def _load_deepened(model: MattingNet, weights: dict[str, torch.Tensor], depths: list[int]) -> None:
    """``weights`` of an encoder with ``depths`` blocks per stage into the deeper ``model``."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    added = {(i, j) for i, stage in enumerate(model.encoder.stages) for j in range(depths[i], len(stage))}
    expected = {k for k in model.state_dict() if _block_of(k) in added and not k.endswith("num_batches_tracked")}
    if unexpected or set(missing) - {k for k in missing if k.endswith("num_batches_tracked")} != expected:
        raise ValueError(f"weights do not fit the deepened encoder (missing {sorted(set(missing) - expected)}, "
                         f"unexpected {sorted(unexpected)})")
    for i, j in sorted(added):
        norm = model.encoder.stages[i][j].body[-1]  # the linear bottleneck's BatchNorm
        torch.nn.init.zeros_(norm.weight)
        torch.nn.init.zeros_(norm.bias)


def _block_of(key: str) -> tuple[int, int] | None:
    """(stage, block) of an ``encoder.stages.<i>.<j>.`` state-dict key, else None."""
    parts = key.split(".")
    if parts[:2] == ["encoder", "stages"]:
        return int(parts[2]), int(parts[3])
    return None


def save_weights(path: Path | str, model: MattingNet) -> None:
    """Write weights only (model arguments + state dict, no optimizer), atomically: the release format."""
    save_checkpoint(path, {"model_args": model.model_args(),
                           "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}})
