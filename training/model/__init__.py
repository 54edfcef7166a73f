"""The matting network, one component per file.

``stem`` (large-kernel stride-4 conv) -> ``encoder`` (multi-branch dilated inverted residuals from
``blocks``) -> ``decoder`` (resize + depthwise-separable conv, skips, optional ``attention`` gates)
-> ``refine`` (densely connected head at the input resolution) -> sigmoid alpha. ``matting`` holds
the whole model and its config.
"""
from training.model.matting import MattingNet, ModelConfig, count_parameters

__all__ = ["MattingNet", "ModelConfig", "count_parameters"]
