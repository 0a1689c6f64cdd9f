"""Multi-object tracking: stable ids for detections across frames."""

from edge_agent.tracking.iou_tracker import IouTracker

__all__ = ["IouTracker"]
