"""DeepLabv3 + MobileNetV2 (depth 0.5) trained on AISegment portraits: ../shared/models/deeplab/.

Graph (checked with onnxruntime): input ``MobilenetV2/MobilenetV2/input:0`` (1, 3, 513, 513) float32
NCHW; output ``transpose:0`` (1, 2, 513, 513) logits (background, person); a softmax over the two
channels gives p(person). The graph lists its 272 weights as inputs too: ``base.onnx_session``
drops them from the inputs (3.5x faster: constants can be folded).

Preprocessing, MEASURED on ccp-voc (the first 40 photos of train.txt; IoU of p >= 0.5 against the
human masks):

    RGB, x / 127.5 - 1, stretched to 513x513   <- used     0.806
    RGB, x / 255                                            0.776
    RGB, ImageNet mean/std                                  0.726
    BGR, x / 127.5 - 1                                      0.758
    BGR, x / 255                                            0.739
    RGB / BGR, raw 0..255                                   0.117 / 0.123
    RGB, x / 127.5 - 1, letterboxed                         0.753

which agrees with the models README's note on the TFLite twin ([-1, 1] input).
"""
from __future__ import annotations

import numpy as np

from labeling.members.onnx_common import OnnxSegmenter, softmax_person


class DeepLabAISeg(OnnxSegmenter):
    name = "deeplab-aiseg"
    default_size = (513, 513)

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        return rgb / 127.5 - 1.0

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        return softmax_person(output)
