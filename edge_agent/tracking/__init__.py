"""Multi-object tracking: stable ids for detections across frames."""

from edge_agent.tracking.bytetrack import ByteTrackConfig, ByteTracker
from edge_agent.tracking.ids import CountingIds, TrackIdAllocator
from edge_agent.tracking.iou_tracker import IouTracker

__all__ = ["ByteTrackConfig", "ByteTracker", "CountingIds", "IouTracker", "TrackIdAllocator"]
