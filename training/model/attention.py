"""Attention gate on a skip connection (Oktay et al. 2018, "Attention U-Net")."""
from __future__ import annotations

import torch
from torch import nn


class AttentionGate(nn.Module):
    """Scale the skip features by a per-pixel weight computed from the skip and the decoder signal.

    skip: (B, C_s, H, W), gate: (B, C_g, H, W) (already resized) -> (B, C_s, H, W):
    ``skip * sigmoid(psi(relu(W_s skip + W_g gate)))``.
    """

    def __init__(self, skip_channels: int, gate_channels: int, hidden: int = 8):
        super().__init__()
        self.skip_proj = nn.Conv2d(skip_channels, hidden, 1, bias=False)
        self.gate_proj = nn.Conv2d(gate_channels, hidden, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.psi = nn.Conv2d(hidden, 1, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        weight = self.sigmoid(self.psi(self.act(self.skip_proj(skip) + self.gate_proj(gate))))
        return skip * weight
