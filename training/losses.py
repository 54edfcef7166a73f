"""Training losses: L1 + BCE + gradient (Sobel x, y) + edge band, optional consistency and distillation.

Every term is a pure function of (B, 1, H, W) tensors with an optional ``weight`` (B, 1, H, W) in
{0, 1} (0 where no label speaks: the store's ignore mask); weighted means divide by the weight's sum.
``MattingLoss`` combines them with the weights from params and returns a dict of named terms plus
``'total'`` (RobustVideoMatting's shape).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` over pixels where ``weight`` is set (all pixels when None); 0 if none are."""
    if weight is None:
        return values.mean()
    weight = weight.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp(min=1.0)


def l1_loss(pred_alpha: torch.Tensor, true_alpha: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |pred - true|."""
    return weighted_mean((pred_alpha - true_alpha).abs(), weight)


def bce_loss(pred_logits: torch.Tensor, true_alpha: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of logits against (soft) alpha targets, in natural log units."""
    values = F.binary_cross_entropy_with_logits(pred_logits.float(), true_alpha.float(), reduction="none")
    return weighted_mean(values, weight)


def sobel(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(gx, gy) of (B, 1, H, W) with 3x3 Sobel kernels and replicated borders.

    Written as shifted differences (the separable [1, 2, 1] x [-1, 0, 1] form): on the CPU a
    one-channel 3x3 convolution's backward pass cost ~20 ms a batch, these slices a fraction of it.
    """
    p = F.pad(alpha, (1, 1, 1, 1), mode="replicate")
    dx = p[..., :, 2:] - p[..., :, :-2]  # (H + 2, W)
    dy = p[..., 2:, :] - p[..., :-2, :]  # (H, W + 2)
    return dx[..., :-2, :] + 2.0 * dx[..., 1:-1, :] + dx[..., 2:, :], \
        dy[..., :, :-2] + 2.0 * dy[..., :, 1:-1] + dy[..., :, 2:]


def gradient_loss(pred_alpha: torch.Tensor, true_alpha: torch.Tensor,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of |gx_pred - gx_true| + |gy_pred - gy_true| (Sobel gradients)."""
    px, py = sobel(pred_alpha)
    tx, ty = sobel(true_alpha)
    return weighted_mean((px - tx).abs() + (py - ty).abs(), weight)


def edge_band(true_alpha: torch.Tensor, width: int) -> torch.Tensor:
    """(B, 1, H, W) float {0, 1}: dilate(mask) - erode(mask) with a (2*width+1) square, mask = alpha >= 0.5.

    The same band as ``datasets.masks.edge_band`` (pixels outside the image neither dilate nor erode).
    """
    if width < 1:
        raise ValueError(f"`edge_width` should be >= 1 pixel, got {width!r}")
    mask = (true_alpha >= 0.5).float()
    return _square_max(mask, width) + _square_max(-mask, width)  # dilate - erode


def _square_max(x: torch.Tensor, width: int) -> torch.Tensor:
    """Max over the (2*width+1) square around each pixel (outside the image never wins), as a row pass
    then a column pass of shifted maxima: ~1 ms for a batch where one square max_pool2d took ~20."""
    for dim in (-1, -2):
        n = x.shape[dim]
        pad = (width, width, 0, 0) if dim == -1 else (0, 0, width, width)  # F.pad: last dim first
        padded = F.pad(x, pad, value=float("-inf"))
        out = padded.narrow(dim, 0, n)
        for shift in range(1, 2 * width + 1):
            out = torch.maximum(out, padded.narrow(dim, shift, n))
        x = out
    return x


def edge_loss(pred_alpha: torch.Tensor, true_alpha: torch.Tensor, width: int,
              weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |pred - true| over the label's edge band (0 when no band pixel is set)."""
    band = edge_band(true_alpha, width)
    if weight is not None:
        band = band * weight
    return weighted_mean((pred_alpha - true_alpha).abs(), band)


def ohem_bce_loss(pred_logits: torch.Tensor, true_alpha: torch.Tensor, ratio: float,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
    """Online hard-example mining: mean BCE over the hardest ``ratio`` share of the labelled pixels."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"`ohem_ratio` should be in (0, 1], got {ratio!r}")
    values = F.binary_cross_entropy_with_logits(pred_logits.float(), true_alpha.float(), reduction="none")
    if weight is not None:
        values = values * weight.expand_as(values)
    flat = values.flatten()
    k = max(1, int(round(ratio * flat.numel())))
    # the mean of the k largest, via the k-th largest value (2-4x cheaper than topk on the CPU); ties at
    # the threshold count as many times as topk would take them
    threshold = flat.kthvalue(flat.numel() - k + 1).values
    above = flat > threshold
    return (flat[above].sum() + threshold * (k - above.sum())) / k


def consistency_loss(alpha_a: torch.Tensor, alpha_b: torch.Tensor) -> torch.Tensor:
    """Mean |alpha_a - alpha_b| between predictions for an image and its perturbed copy."""
    return (alpha_a - alpha_b).abs().mean()


@dataclass(frozen=True)
class LossParams:
    """Weights of the loss terms (params.yaml `train.loss`); 0 turns a term off."""
    l1: float = 1.0  # mean absolute alpha error
    bce: float = 1.0  # binary cross-entropy on logits
    gradient: float = 1.0  # Sobel x/y gradient L1
    edge: float = 2.0  # L1 on the label's dilate-minus-erode band
    edge_width: int = 3  # half-width in pixels of that band at training resolution
    coarse: float = 0.5  # BCE on the 1/4-resolution coarse logits (deep supervision)
    consistency: float = 0.0  # L1 between predictions of an image and its colour/blur/noise-perturbed copy
    distill: float = 0.0  # L1 to the ensemble's soft alpha where one is given (--teacher)
    ohem: float = 0.0  # BCE over the hardest `ohem_ratio` of pixels (online hard-example mining; 0 = off)
    ohem_ratio: float = 0.1  # share of pixels (per batch) that count as hard; 0.05-0.25


class MattingLoss(nn.Module):
    """``forward(logits, true_alpha, weight, coarse_logits, teacher, teacher_weight) -> {term: value, 'total'}``.

    logits, true_alpha, weight, teacher: (B, 1, H, W); coarse_logits: (B, 1, H/4, W/4);
    teacher_weight: (B, 1, 1, 1) or (B, 1, H, W), 1 where a teacher alpha exists.
    Consistency needs a second forward pass and is added by the training loop.
    """

    def __init__(self, params: LossParams | None = None):
        super().__init__()
        self.params = params or LossParams()

    def forward(self, logits: torch.Tensor, true_alpha: torch.Tensor, weight: torch.Tensor | None = None,
                coarse_logits: torch.Tensor | None = None, teacher: torch.Tensor | None = None,
                teacher_weight: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        p = self.params
        logits = logits.float()
        pred = torch.sigmoid(logits)
        terms: dict[str, torch.Tensor] = {
            "l1": l1_loss(pred, true_alpha, weight),
            "bce": bce_loss(logits, true_alpha, weight),
            "gradient": gradient_loss(pred, true_alpha, weight),
            "edge": edge_loss(pred, true_alpha, p.edge_width, weight),
        }
        total = p.l1 * terms["l1"] + p.bce * terms["bce"] + p.gradient * terms["gradient"] + p.edge * terms["edge"]
        if p.ohem:
            terms["ohem"] = ohem_bce_loss(logits, true_alpha, p.ohem_ratio, weight)
            total = total + p.ohem * terms["ohem"]
        if coarse_logits is not None and p.coarse:
            size = coarse_logits.shape[-2:]
            small_true = F.adaptive_avg_pool2d(true_alpha, size)
            small_weight = None if weight is None else (F.adaptive_avg_pool2d(weight, size) > 0.5).float()
            terms["coarse"] = bce_loss(coarse_logits, small_true, small_weight)
            total = total + p.coarse * terms["coarse"]
        if teacher is not None and p.distill:
            tw = torch.ones_like(pred) if teacher_weight is None else teacher_weight.expand_as(pred)
            terms["distill"] = weighted_mean((pred - teacher).abs(), tw)
            total = total + p.distill * terms["distill"]
        terms["total"] = total
        return terms
