"""NanoDet-Plus decoder: per stride a (1, A, C) sigmoid class map and a (1, A, 4 * (reg_max + 1)) DFL box map."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edge_agent.detectors.base import Candidates, DetectorOptions, OnnxDetector, best_class
from edge_agent.models.manifest import ModelSpec


def nanodet_centers(input_wh: tuple[int, int], stride: int) -> np.ndarray:
    """(A, 2) anchor centres in input pixels: `i * stride + 0.5 * (stride - 1)`."""
    hs, ws = math.ceil(input_wh[1] / stride), math.ceil(input_wh[0] / stride)
    xv, yv = np.meshgrid(np.arange(ws) * stride, np.arange(hs) * stride)
    centers = np.stack((xv, yv), axis=2).reshape(-1, 2).astype(np.float32)
    return centers + 0.5 * (stride - 1)


class NanodetDetector(OnnxDetector):
    def __init__(self, spec: ModelSpec, path: Path, options: DetectorOptions) -> None:
        super().__init__(spec, path, options)
        self.centers = {s: nanodet_centers(self.input_wh, s) for s in spec.output.strides}
        self.bins = np.arange(spec.output.reg_max + 1, dtype=np.float32)

    def decode(self, outputs: list[np.ndarray]) -> Candidates:
        n_cls, n_reg = len(self.spec.classes), 4 * len(self.bins)
        # Output order differs between exports; pair maps by anchor count and tell them apart by width.
        cls_maps = {o.shape[1]: o[0] for o in outputs if o.shape[2] == n_cls}
        box_maps = {o.shape[1]: o[0] for o in outputs if o.shape[2] == n_reg}
        boxes, scores, classes = [], [], []
        for stride, centers in self.centers.items():
            cls_map, box_map = cls_maps.get(len(centers)), box_maps.get(len(centers))
            if cls_map is None or box_map is None:
                raise ValueError(f"NanoDet outputs have no maps for stride {stride} ({len(centers)} anchors)")
            rows, score, class_id = best_class(cls_map, self.options.score_threshold)
            if len(rows) == 0:
                continue
            logits = box_map[rows].reshape(-1, 4, len(self.bins))
            prob = np.exp(logits - logits.max(axis=2, keepdims=True))
            prob /= prob.sum(axis=2, keepdims=True)
            ltrb = (prob @ self.bins) * stride
            c = centers[rows]
            boxes.append(np.concatenate([c - ltrb[:, :2], c + ltrb[:, 2:]], axis=1))
            scores.append(score)
            classes.append(class_id)
        if not boxes:
            return Candidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))
        return Candidates(np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes))
