"""SINet (Park et al., WACV 2020), the EG1800 portrait model in ../shared/models/sinet/SINet.onnx.

Graph: input ``data`` (1, 3, 320, 320) float32; output ``classifier/1`` (1, 2, 320, 320) logits
(background, person); softmax over the 2 channels gives p(person).

Preprocessing, MEASURED (upstream does not document it; benchmarks/label_quality.py reruns the
numbers): on the 61 coco128 images with persons, IoU of p >= 0.5 against the merged COCO person
masks (all 61 / the 41 whose persons cover > 5% of the image):

    BGR, (x - mean) / std            (the models README's reading)   0.077 / 0.112
    RGB, (x - mean) / std                                             0.063 / 0.089
    BGR, x / 255                                                      0.064 / 0.092
    RGB, ImageNet mean/std on x/255                                   0.066 / 0.094
    BGR, (x - mean) / std / 255      <- used                          0.289 / 0.423
    RGB, (x - mean) / std / 255                                       0.274 / 0.398
    same, letterboxed instead of stretched to 320x320                 0.281 / 0.411

with mean = (102.890434, 111.25247, 126.91212), std = (62.93292, 62.82138, 66.355705) in BGR
order. The first four give logits of ~1e10 (useless). Why /255: the first BatchNorm's running
variances are ~1e-5 (running means ~0); the first conv's output variance on (x - mean) / std input
is ~290x(std) larger than that, consistent across channels, i.e. the network was trained on inputs
~1/255 of the mean/std scale. Channel order: BGR beats RGB by 1.5 points. SINet is a selfie model;
on COCO scenes (small, full-body people) it is the weakest member.
"""
from __future__ import annotations

import numpy as np

from labeling.members.onnx_common import OnnxSegmenter, softmax_person

MEAN_BGR = np.array([102.890434, 111.25247, 126.91212], np.float32)
STD_BGR = np.array([62.93292, 62.82138, 66.355705], np.float32)


class SINet(OnnxSegmenter):
    name = "sinet"
    default_size = (320, 320)

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        return (rgb[..., ::-1] - MEAN_BGR) / STD_BGR / 255.0

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        return softmax_person(output)
