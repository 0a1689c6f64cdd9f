"""Ultralytics YOLOv8/YOLO11 detect decoder: output (1, 4 + C, A) `[cx, cy, w, h, C scores]` in input pixels."""

from __future__ import annotations

import numpy as np

from edge_agent.detectors.base import Candidates, OnnxDetector, best_class


class UltralyticsDetector(OnnxDetector):
    def decode(self, outputs: list[np.ndarray]) -> Candidates:
        raw = outputs[0][0]
        if raw.shape[0] != 4 + len(self.spec.classes):
            raise ValueError(f"Ultralytics output {raw.shape} does not have 4 + {len(self.spec.classes)} rows")
        rows, score, class_id = best_class(raw[4:].T, self.options.score_threshold)
        cxcywh = raw[:4, rows].T
        xyxy = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
        return Candidates(xyxy=xyxy, score=score, class_id=class_id)
