"""The matting network: stem -> encoder -> decoder -> refinement head -> sigmoid alpha.

    input (B, C, H, W) float32, RGB in [0, 1] (+ optional prior alpha in [0, 1] as channel 4)
    -> alpha (B, 1, H, W) in [0, 1]

H and W should be multiples of 8 (default 256x144, 16:9); other sizes work (the decoder resizes to
each skip's exact size) but waste a little.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from training.model.decoder import Decoder
from training.model.encoder import Encoder
from training.model.refine import RefineHead
from training.model.stem import Stem

PARAM_BUDGET = 1_000_000  # the hard ceiling


@dataclass(frozen=True)
class ModelConfig:
    """The model's arguments (params.yaml `model:`); checkpoints store them, so evaluation needs nothing else."""
    in_channels: int = 3  # 3 = RGB; 4 = RGB + the previous frame's alpha (trained with synthesized priors)
    input_width: int = 256  # inference/training width; multiple of 8 (16:9 with 144)
    input_height: int = 144  # inference/training height; multiple of 8
    stem_channels: int = 16  # output width of the stride-4 stem
    stem_kernel: int = 7  # large kernel of the stem (odd; cheap with 3 input channels)
    enc_channels: list[int] = field(default_factory=lambda: [16, 24, 48, 96])  # width per stage (1/4 .. 1/32)
    enc_depths: list[int] = field(default_factory=lambda: [1, 2, 3, 3])  # blocks per stage
    enc_dilations: list[list[int]] = field(  # depthwise dilation per branch, per stage
        default_factory=lambda: [[1, 2], [1, 2], [1, 2, 4], [1, 2, 4]])
    expansion: int = 4  # inverted-residual expansion factor
    se_reduction: int = 0  # squeeze-excite reduction in the middle of each block (0 = off, since release 10; MobileNetV3 uses 4)
    dec_channels: list[int] = field(default_factory=lambda: [48, 24, 16])  # decoder widths, 1/16 .. 1/4
    attention: bool = False  # attention gates on the skip connections
    refine_hidden: int = 2  # decoder channels carried to full resolution (full-res layers dominate latency)
    refine_growth: int = 2  # channels added by each dense layer of the refinement head
    refine_layers: int = 1  # dense layers at full resolution (~0.5 ms each at 256x144 on one core)

    def __post_init__(self):
        if self.in_channels not in (3, 4):
            raise ValueError(f"`in_channels` should be 3 (RGB) or 4 (RGB + prior), got {self.in_channels!r}")
        for name in ("input_width", "input_height"):
            value = getattr(self, name)
            if value < 32 or value % 8:
                raise ValueError(f"`{name}` should be a multiple of 8 and >= 32, got {value!r}")


class MattingNet(nn.Module):
    """x (B, in_channels, H, W) -> alpha (B, 1, H, W) in [0, 1].

    ``forward(x, logits=True)`` returns ``(alpha_logits (B, 1, H, W), coarse_logits (B, 1, H/4, W/4))``
    for training (stable BCE, deep supervision).
    """

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config = config or ModelConfig()
        self.stem = Stem(config.in_channels, config.stem_channels, config.stem_kernel)
        self.encoder = Encoder(config.stem_channels, list(config.enc_channels), list(config.enc_depths),
                               [list(d) for d in config.enc_dilations], config.expansion, config.se_reduction)
        self.decoder = Decoder(list(config.enc_channels), list(config.dec_channels), config.attention)
        self.refine = RefineHead(config.in_channels, config.dec_channels[-1], config.refine_hidden,
                                 config.refine_growth, config.refine_layers)

    def forward(self, x: torch.Tensor, logits: bool = False):
        features = self.encoder(self.stem(x))
        fine, coarse = self.refine(x, self.decoder(features))
        if logits:
            return fine, coarse
        return torch.sigmoid(fine)

    def model_args(self) -> dict:
        """The constructor's arguments as plain data (stored in checkpoints)."""
        return asdict(self.config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
