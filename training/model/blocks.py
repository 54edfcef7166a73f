"""Encoder building blocks: multi-branch dilated depthwise inverted residuals (MobileNetV2 shape).

    x --1x1 expand, BN, ReLU--> E channels --split into branches--> depthwise 3x3, dilation d_i
      --concat, BN, ReLU--> squeeze-excite (reduction r) --1x1 project, BN, no activation--> (+ x)

Each branch sees its own slice of the expanded channels (MixConv-style), so several dilations
(several receptive fields) cost what one depthwise conv costs. The projection is linear (the
"linear bottleneck" of MobileNetV2): no activation on the narrow tensor. The squeeze-excite sits in
the middle of the block as in MobileNetV3 but squeezes harder (reduction 16-32 rather than 4).
"""
from __future__ import annotations

import torch
from torch import nn


def branch_channels(channels: int, branches: int) -> list[int]:
    """Split ``channels`` into ``branches`` near-equal parts (the first ones get the remainder)."""
    if branches < 1 or channels < branches:
        raise ValueError(f"cannot split {channels} channels into {branches} branches")
    base, extra = divmod(channels, branches)
    return [base + (1 if i < extra else 0) for i in range(branches)]


class MultiDilatedDepthwise(nn.Module):
    """Depthwise 3x3 conv + BN per branch, one dilation per branch on channel slices, concatenated.

    x: (B, C, H, W) -> (B, C, H', W') with H' = ceil(H / stride). Each branch has its own BN so the
    export folds it into the branch's conv.
    """

    def __init__(self, channels: int, dilations: tuple[int, ...] | list[int], stride: int = 1):
        super().__init__()
        if not dilations or any(d < 1 for d in dilations):
            raise ValueError(f"`dilations` should be a non-empty list of integers >= 1, got {dilations!r}")
        self.splits = branch_channels(channels, len(dilations))
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c, 3, stride=stride, padding=d, dilation=d, groups=c, bias=False),
                          nn.BatchNorm2d(c))
            for c, d in zip(self.splits, dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.branches) == 1:
            return self.branches[0](x)
        parts = torch.split(x, self.splits, dim=1)
        return torch.cat([branch(part) for branch, part in zip(self.branches, parts)], dim=1)


class SqueezeExcite(nn.Module):
    """Channel attention: global pool -> 1x1 (C -> C/r) -> ReLU -> 1x1 (-> C) -> hard sigmoid -> scale.

    x: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(4, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Hardsigmoid()

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, 1, 1) the per-channel gate for ``x`` (B, C, H, W)."""
        return self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual with multi-dilated depthwise branches and a linear bottleneck.

    x: (B, C_in, H, W) -> (B, C_out, ceil(H / stride), ceil(W / stride)); residual when shapes allow.
    ``se_reduction`` 0 disables the squeeze-excite.
    """

    def __init__(self, in_channels: int, out_channels: int, *, expansion: int = 4, stride: int = 1,
                 dilations: tuple[int, ...] | list[int] = (1,), se_reduction: int = 16):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"`stride` should be 1 or 2, got {stride!r}")
        hidden = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True)]
        layers += [MultiDilatedDepthwise(hidden, dilations, stride), nn.ReLU(inplace=True)]
        if se_reduction:
            layers.append(SqueezeExcite(hidden, se_reduction))
        layers += [nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


class SeparableConv(nn.Module):
    """Depthwise 3x3 + BN, pointwise 1x1 + BN + ReLU: x (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=dilation, dilation=dilation,
                                   groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn2(self.pointwise(self.bn1(self.depthwise(x)))))
