"""The ensemble as one object: the members of `autolabel.members` and their fusion.

```
ensemble = Ensemble.from_params(params)      # params: AutolabelParams (params.yaml `autolabel:`)
result = ensemble.predict(rgb, gt)           # rgb: (H, W, 3) uint8; gt: the sample's label (H, W) uint8, or None
result.alphas                                # {member: (H, W) float32 in [0, 1]}, in `autolabel.members` order
result.alpha, result.disagreement            # (H, W) float32 in [0, 1]: the fused alpha, the members' disagreement
```
The `autolabel` stage (and its flow), `score` and the `ensemble` baseline of `python -m training evaluate`
all label through it. The stage runs it in two halves: ``predict(..., fuse=False)`` where the member
sessions live, then ``fuse`` in a writer thread (or, with learned fusion weights, after every member ran).

The fusion is the fitted file (`fusion.method: file`, when it was fitted for these members) or the
weighted vote (`fusion.weights`, `vote_threshold`, or weights learned at run time); the fused alpha then
goes through the image-guided edge filter and pymatting, each when enabled.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import numpy as np

from datasets import masks
from labeling import fusion, members as registry
from labeling.members.base import Member
from labeling.members.zoom import add_crops, crop_windows
from labeling.refine import refine

if TYPE_CHECKING:
    from labeling.autolabel import AutolabelParams

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """One image through the ensemble; ``alpha`` and ``disagreement`` are None until it is fused."""
    alphas: dict[str, np.ndarray]  # member -> (H, W) float32 in [0, 1] (uint8 0..255 when read back from PNGs)
    crops: int = 0  # zoom crops the members also ran on
    alpha: np.ndarray | None = None  # (H, W) float32 in [0, 1]: the fusion after the edge filter and pymatting
    disagreement: np.ndarray | None = None  # (H, W) float32 in [0, 1]; 0 = the members agree
    # the members' (fused, disagreement) when the zoom guide already computed it for these alphas (not twice)
    vote: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)


class Ensemble:
    """The members of ``params.members`` and the fusion of their alphas (see the module docstring)."""

    def __init__(self, params: AutolabelParams, fuse: fusion.Fuser):
        self.params = params
        self.names = list(params.members)
        self._fuse = fuse  # member alphas -> (fused, disagreement), before the edge filter

    @classmethod
    def from_params(cls, params: AutolabelParams, weights: Mapping[str, float] | None = None,
                    threshold: float | None = None) -> Ensemble:
        """The ensemble of ``params``; ``weights`` and ``threshold`` replace the vote's (learned at run time).

        A missing fusion file (`fusion.method: file`) raises here; the members are created on first use.
        """
        return cls(params, fusion.fuser(params.fusion, params.members, weights, threshold))

    @property
    def members(self) -> dict[str, Member]:
        """The calling thread's members (``labeling.members.get``: created on first use, then reused)."""
        settings = self.params.settings
        return {name: registry.get(name, settings) for name in self.names}

    def load(self) -> Ensemble:
        """Create the calling thread's members now: a missing model file raises before anything is written."""
        for name, member in self.members.items():
            log.debug("%s: %s ready", name, type(member).__name__)
        return self

    @property
    def needs_label(self) -> bool:
        """Whether ``predict`` uses the sample's label where it has one (zoom crops, SAM prompted by it)."""
        return self.params.zoom.enabled or (self.params.sam_prompt == "gt" and "sam" in self.names)

    @property
    def fuses_with_image(self) -> bool:
        """Whether ``fuse`` reads the image (the edge filter or pymatting is on)."""
        return self.params.refine.enabled or self.params.fusion.guided_radius > 0

    @property
    def fusion_file(self) -> str | None:
        """`fusion.weights_file` when that fitted file fuses these members, else None (the vote fuses)."""
        return self.params.fusion.weights_file if fusion.file_model(self.params.fusion, self.names) else None

    def predict(self, rgb: np.ndarray, gt: np.ndarray | None = None, fuse: bool = True) -> Prediction:
        """Run the members on one image: the full view, then zoom crops, then prompted members; then fuse.

        Zoom crops surround the people of ``gt`` (a labelled sample) or, without a label (label_kind
        'none', scoring, a baseline), of the ensemble's own fusion of the full-view alphas. Prompted
        members (SAM) run last, prompted by ``gt`` or by the fusion of the others (`sam_prompt`).
        ``fuse=False``: the members' alphas only (``fuse`` them later).
        """
        params, members = self.params, self.members
        plain = [n for n in self.names if not members[n].prompted]
        alphas = {n: members[n].predict(rgb) for n in plain}
        fuse_plain = self._fuse if len(plain) == len(self.names) else \
            fusion.Vote(params.fusion.weights, params.fusion.vote_threshold)
        guide, vote = gt, None
        if params.zoom.enabled and gt is None and alphas:
            guide, vote = fuse_plain.reaches(alphas, params.zoom.guide_threshold)
        windows = crop_windows(guide, params.zoom) if guide is not None and params.zoom.enabled else []
        for name in plain:
            add_crops(members[name], rgb, alphas[name], windows)
        if windows:
            vote = None
        for name in self.names:
            if members[name].prompted:
                if params.sam_prompt == "gt" or not plain:
                    hint = masks.to_float(gt) if gt is not None else None
                else:
                    hint = (vote or fuse_plain({n: alphas[n] for n in plain}))[0]
                alphas[name] = members[name].predict(rgb, hint)
                vote = None
        result = Prediction({n: alphas[n] for n in self.names}, len(windows), vote=vote)
        return self.fuse(rgb, result) if fuse else result

    def fuse(self, rgb: np.ndarray | None, prediction: Prediction) -> Prediction:
        """``prediction`` with its fused alpha and disagreement; ``rgb`` may be None unless ``fuses_with_image``."""
        fused, disagreement = prediction.vote if prediction.vote is not None else self._fuse(prediction.alphas)
        fused = fusion.guided(rgb, fused, self.params.fusion)
        if self.params.refine.enabled:
            fused = refine(rgb, fused, self.params.refine, guide=fused)
        return dataclasses.replace(prediction, alpha=fused, disagreement=disagreement)
