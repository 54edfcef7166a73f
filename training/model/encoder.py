"""Encoder: stages of inverted residuals after the stride-4 stem, returning every stage's features."""
from __future__ import annotations

import torch
from torch import nn

from training.model.blocks import InvertedResidual


class Encoder(nn.Module):
    """Stage i has ``depths[i]`` blocks of width ``channels[i]``; stage 0 keeps the stem's 1/4
    resolution, every later stage halves it (first block stride 2).

    x: (B, C_stem, H/4, W/4) -> [(B, channels[i], H / 2**(i+2), W / 2**(i+2)) for each stage]
    (sizes rounded up).
    """

    def __init__(self, in_channels: int, channels: list[int], depths: list[int], dilations: list[list[int]],
                 expansion: int, se_reduction: int):
        super().__init__()
        if not (len(channels) == len(depths) == len(dilations)):
            raise ValueError(f"`enc_channels`, `enc_depths` and `enc_dilations` should have one entry per stage, "
                             f"got {len(channels)}, {len(depths)}, {len(dilations)}")
        if any(d < 1 for d in depths):
            raise ValueError(f"`enc_depths` should all be >= 1, got {depths!r}")
        self.stages = nn.ModuleList()
        width = in_channels
        for i, (out, depth, dil) in enumerate(zip(channels, depths, dilations)):
            blocks = []
            for j in range(depth):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(InvertedResidual(width, out, expansion=expansion, stride=stride,
                                               dilations=dil if stride == 1 else [1], se_reduction=se_reduction))
                width = out
            self.stages.append(nn.Sequential(*blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
