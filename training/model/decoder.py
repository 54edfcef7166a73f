"""Decoder: resize + depthwise-separable conv per level, with (optionally gated) encoder skips.

No transposed convolutions: each level upsamples bilinearly to the skip's exact size (so odd sizes
such as 144 / 32 work), concatenates the skip and mixes with a separable conv.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.model.attention import AttentionGate
from training.model.blocks import SeparableConv


def resize_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of x (B, C, h, w) to like's (H, W)."""
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class DecoderLevel(nn.Module):
    """x (B, C_x, h, w), skip (B, C_s, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, attention: bool):
        super().__init__()
        self.gate = AttentionGate(skip_channels, in_channels) if attention else None
        self.mix = SeparableConv(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = resize_to(x, skip)
        if self.gate is not None:
            skip = self.gate(skip, x)
        return self.mix(torch.cat([x, skip], dim=1))


class Decoder(nn.Module):
    """From the deepest encoder features up to the 1/4 level.

    features: encoder outputs, shallow to deep [(B, enc[i], H_i, W_i)] -> (B, channels[-1], H_0, W_0).
    ``channels[k]`` is the width after merging the skip of encoder level ``len(enc) - 2 - k``.
    """

    def __init__(self, encoder_channels: list[int], channels: list[int], attention: bool):
        super().__init__()
        if len(channels) != len(encoder_channels) - 1:
            raise ValueError(f"`dec_channels` should have {len(encoder_channels) - 1} entries (one per skip), "
                             f"got {channels!r}")
        self.levels = nn.ModuleList()
        width = encoder_channels[-1]
        for k, out in enumerate(channels):
            skip = encoder_channels[len(encoder_channels) - 2 - k]
            self.levels.append(DecoderLevel(width, skip, out, attention))
            width = out

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for k, level in enumerate(self.levels):
            x = level(x, features[len(features) - 2 - k])
        return x
