"""prisma-net, the small portrait U-Net in ../shared/models/prisma/prisma_nchw.onnx.

Graph (checked with onnxruntime): input ``input_3`` (N, 3, 256, 256) float32 NCHW; output
``permute_1`` (N, 1, 256, 256), already a probability (the graph ends in a Sigmoid).

Preprocessing, MEASURED (undocumented upstream): IoU of p >= 0.5 against the merged COCO person
masks on the 61 coco128 images with persons (all 61 / the 41 with persons > 5% of the image):

    RGB, x / 255        <- used      0.349 / 0.493
    RGB, x / 127.5 - 1               0.338 / 0.471
    BGR, x / 255                     0.306 / 0.431
    RGB, ImageNet mean/std           0.290 / 0.410
    RGB, SINet's mean/std            0.284 / 0.406
    BGR, raw 0..255                  0.126 / 0.179
    RGB, x / 255, letterboxed        0.305 / 0.436  (stretching to 256x256 is better)
"""
from __future__ import annotations

import numpy as np

from labeling.members.onnx_common import OnnxSegmenter


class Prisma(OnnxSegmenter):
    name = "prisma"
    default_size = (256, 256)

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        return rgb / 255.0

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        return output[0]
