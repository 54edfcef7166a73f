"""PP-HumanSeg lite (portrait), PaddleSeg's real-time human segmentation: ../shared/models/ppseg/.

Graph (checked with onnxruntime): input ``x`` (1, 3, 224, 398) float32 NCHW (H=224, W=398, a
landscape video-call frame); output ``save_infer_model/scale_0.tmp_1`` (1, 2, 224, 398), already a
softmax over (background, person): channel 1 is p(person).

Preprocessing, MEASURED on ccp-voc (the first 60 photos of train.txt, 550x~830 full-body street
photos; IoU of p >= 0.5 against the human masks):

                                   stretched to 398x224    letterboxed (aspect kept, grey pad)
    RGB, (x/255 - 0.5) / 0.5             0.812                  0.867   <- used
    RGB, x/255                           0.703                  0.846
    RGB, ImageNet mean/std               0.764                  0.806
    BGR, (x/255 - 0.5) / 0.5             0.592                  0.835   (the exporter's script)
    BGR, x/255                           0.472                  0.818
    RGB / BGR, raw 0..255                0.29 / 0.28            0.29 / 0.28

The exporter's script feeds BGR; on real photos RGB is better by 3 (letterboxed) to 22 (stretched)
points. Stretching a portrait-orientation photo into the landscape input squashes people to half
their width: letterboxing keeps their shape.
"""
from __future__ import annotations

import numpy as np

from labeling.members.onnx_common import OnnxSegmenter


class PPHumanSeg(OnnxSegmenter):
    name = "ppseg"
    default_size = (224, 398)
    letterbox = True

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        return rgb / 127.5 - 1.0

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        return output[1]
