"""Refinement head at the full input resolution: a few densely connected separable layers.

Hair and edges are decided here, where the image is seen at its input resolution: the decoder's
1/4-resolution features are projected to a few channels plus a coarse alpha logit, upsampled, and
concatenated with the input image; each dense layer sees the input and every earlier layer's output
(DenseNet-style); a 1x1 conv gives a correction added to the coarse logit.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DenseLayer(nn.Module):
    """Depthwise 3x3 + pointwise (C_in -> growth) + BN + ReLU: (B, C_in, H, W) -> (B, growth, H, W)."""

    def __init__(self, in_channels: int, growth: int):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, growth, 1, bias=False)
        self.bn = nn.BatchNorm2d(growth)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.pointwise(self.depthwise(x))))


class RefineHead(nn.Module):
    """image (B, C_img, H, W), features (B, C_f, H/4, W/4) -> alpha logits (B, 1, H, W).

    Also returns the coarse logit (B, 1, H/4, W/4) for deep supervision.
    """

    def __init__(self, image_channels: int, feature_channels: int, hidden: int = 4, growth: int = 4,
                 layers: int = 2):
        super().__init__()
        if layers < 1:
            raise ValueError(f"`refine_layers` should be >= 1, got {layers!r}")
        self.project = nn.Conv2d(feature_channels, hidden + 1, 1)  # hidden features + the coarse logit
        self.hidden = hidden
        width = image_channels + hidden + 1
        self.layers = nn.ModuleList()
        for _ in range(layers):
            self.layers.append(DenseLayer(width, growth))
            width += growth
        self.out = nn.Conv2d(width, 1, 1)

    def forward(self, image: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        projected = self.project(features)
        coarse = projected[:, self.hidden:]
        up = F.interpolate(projected, size=image.shape[-2:], mode="bilinear", align_corners=False)
        x = torch.cat([image, up], dim=1)
        for layer in self.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return up[:, self.hidden:] + self.out(x), coarse
