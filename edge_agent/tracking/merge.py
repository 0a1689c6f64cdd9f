"""One object, one detection: merge overlapping boxes of classes a rule counts as one kind of object.

Detectors score every class per anchor and NMS runs per class, so a van comes out as a `car` box and a `truck`
box on the same pixels (YOLOX-Nano on `mmdet_demo.mp4`: car 0.69 and truck 0.40 at IoU 0.97). Both start
tracks, and a parking rule then opens two stays, two incidents and two work orders for one vehicle. Before
tracking, boxes of one class group (a parking rule's `classes`) that overlap by `min_iou` or more are merged:
the higher score and its class stay, the other class is noted in `merged_class_id`, and the box is the
score-weighted mean of the merged boxes (both are estimates of the same vehicle; on the plate test scene the car box
cuts 8 px off the plate that the truck box holds). Pure numpy.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from edge_agent.detections import Detections
from edge_agent.tracking.iou import box_iou


def merge_class_group(detections: Detections, classes: Iterable[str], min_iou: float) -> Detections:
    """Detections with each cluster of `classes` boxes overlapping by >= `min_iou` reduced to one detection (greedy,
    highest score first: its score and class, the cluster's score-weighted mean box), in input order; detections
    of other classes pass unchanged."""
    group = np.nonzero(detections.class_mask(frozenset(classes)))[0]
    if len(group) < 2:
        return detections
    order = group[np.argsort(-detections.confidence[group], kind="stable")]
    iou = box_iou(detections.xyxy[order], detections.xyxy[order])
    merged = (
        detections.merged_class_id.copy()
        if detections.merged_class_id is not None
        else np.full(len(detections), -1, dtype=np.int32)
    )
    keep = np.ones(len(detections), dtype=bool)
    xyxy = detections.xyxy.copy()
    for a in range(len(order)):
        if not keep[order[a]]:
            continue
        weights = [float(detections.confidence[order[a]])]
        boxes = [detections.xyxy[order[a]]]
        for b in range(a + 1, len(order)):
            if keep[order[b]] and iou[a, b] >= min_iou:
                keep[order[b]] = False
                weights.append(float(detections.confidence[order[b]]))
                boxes.append(detections.xyxy[order[b]])
                loser = int(detections.class_id[order[b]])
                if loser != detections.class_id[order[a]] and merged[order[a]] < 0:
                    merged[order[a]] = loser
        if len(boxes) > 1:
            xyxy[order[a]] = np.average(np.stack(boxes), axis=0, weights=weights)
    if keep.all():
        return detections
    noted = Detections(
        xyxy,
        detections.confidence,
        detections.class_id,
        detections.class_names,
        detections.tracker_id,
        merged,
    )
    return noted[keep]
