"""One shared model tester: forward + backward on a tiny input for every configuration."""
from __future__ import annotations

import pytest
import torch

from training.model import MattingNet, ModelConfig, count_parameters
from training.model.blocks import InvertedResidual, MultiDilatedDepthwise, branch_channels
from training.model.matting import PARAM_BUDGET

CONFIGS = {
    "rgb": {},
    "rgb+prior": {"in_channels": 4},
    "attention": {"attention": True},
    "prior+attention": {"in_channels": 4, "attention": True},
    "no-se, deep refine": {"se_reduction": 0, "refine_layers": 3},
}


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=list(CONFIGS))
def test_forward_backward(tiny_model_args, overrides):
    torch.manual_seed(0)
    config = ModelConfig(**{**tiny_model_args, **overrides})
    model = MattingNet(config)
    x = torch.rand(2, config.in_channels, 40, 64)  # 40 / 32 is not whole: the decoder must resize to skips
    logits, coarse = model(x, logits=True)
    assert logits.shape == (2, 1, 40, 64)
    assert coarse.shape == (2, 1, 10, 16)
    (logits.mean() + coarse.mean()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a finite gradient: {missing}"
    model.eval()
    with torch.no_grad():
        alpha = model(x)
    assert alpha.shape == (2, 1, 40, 64)
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0


def test_default_model_fits_the_budget():
    model = MattingNet(ModelConfig())
    n = count_parameters(model)
    assert n <= PARAM_BUDGET
    assert 50_000 <= n <= 400_000, f"default model has {n} parameters; the target is 150-400K-ish, MediaPipe 193K"


def test_default_model_runs_at_16_9():
    model = MattingNet(ModelConfig()).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 144, 256)).shape == (1, 1, 144, 256)


def test_every_width_comes_from_the_config(tiny_model_args):
    small = count_parameters(MattingNet(ModelConfig(**tiny_model_args)))
    wider = count_parameters(MattingNet(ModelConfig(**{**tiny_model_args, "dec_channels": [32, 16, 16]})))
    assert wider > small


def test_multi_dilated_branches_split_channels():
    assert branch_channels(10, 3) == [4, 3, 3]
    layer = MultiDilatedDepthwise(12, [1, 2, 4])
    assert [b[0].dilation for b in layer.branches] == [(1, 1), (2, 2), (4, 4)]
    assert layer(torch.rand(1, 12, 9, 9)).shape == (1, 12, 9, 9)


def test_inverted_residual_has_linear_bottleneck_and_residual():
    block = InvertedResidual(8, 8, expansion=4, dilations=[1, 2], se_reduction=16)
    assert block.residual
    assert isinstance(block.body[-1], torch.nn.BatchNorm2d)  # projection ends without activation
    strided = InvertedResidual(8, 16, stride=2)
    assert not strided.residual
    assert strided(torch.rand(1, 8, 9, 16)).shape == (1, 16, 5, 8)


@pytest.mark.parametrize("bad, message", [
    ({"in_channels": 5}, "in_channels"),
    ({"input_width": 250}, "multiple of 8"),
    ({"stem_kernel": 4}, "stem_kernel"),
    ({"dec_channels": [8, 8]}, "dec_channels"),
    ({"enc_depths": [1, 1, 1]}, "one entry per stage"),
])
def test_bad_config_is_an_error(tiny_model_args, bad, message):
    with pytest.raises(ValueError, match=message):
        MattingNet(ModelConfig(**{**tiny_model_args, **bad}))
