"""Stem: one large-kernel convolution with stride 4 on the input (cheap with 3 or 4 channels)."""
from __future__ import annotations

import torch
from torch import nn


class Stem(nn.Module):
    """Conv(k x k, stride 4) + BN + ReLU.

    x: (B, C_in, H, W) -> (B, C_out, ceil(H/4), ceil(W/4)) for odd ``kernel_size``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 7):
        super().__init__()
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"`stem_kernel` should be an odd number >= 3, got {kernel_size!r}")
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=4, padding=kernel_size // 2,
                              bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))
