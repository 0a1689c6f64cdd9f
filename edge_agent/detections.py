"""Columnar detections: one typed object passed between detector, tracker, zones and analytics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Detections:
    """N detections of one frame.

    Attributes:
        xyxy: (N, 4) float32 boxes in pixels, `[x1, y1, x2, y2]`.
        confidence: (N,) float32 scores in 0..1.
        class_id: (N,) int32 indices into `class_names`.
        class_names: names of all classes of the model that produced these detections.
        tracker_id: (N,) int64 track ids, or None before tracking.
        merged_class_id: (N,) int32 class of a box of another class merged into this one (one object the
            detector reported twice, e.g. a van as car and truck; see `tracking/merge.py`), -1 where none; or None
            when nothing was merged.

    Example:
        >>> d = Detections.from_arrays([[0, 0, 10, 10]], [0.9], [2], ("person", "bicycle", "car"))
        >>> d[d.confidence > 0.5].names()
        ['car']
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    class_names: tuple[str, ...]
    tracker_id: np.ndarray | None = None
    merged_class_id: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.xyxy.dtype != np.float32:
            raise ValueError(f"xyxy must be float32 of shape (N, 4), got {self.xyxy.dtype} {self.xyxy.shape}")
        if self.confidence.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError(
                f"confidence {self.confidence.shape} and class_id {self.class_id.shape} must have shape ({n},)"
            )
        if self.tracker_id is not None and self.tracker_id.shape != (n,):
            raise ValueError(f"tracker_id {self.tracker_id.shape} must have shape ({n},)")
        if self.merged_class_id is not None and self.merged_class_id.shape != (n,):
            raise ValueError(f"merged_class_id {self.merged_class_id.shape} must have shape ({n},)")
        if n and (self.class_id.min() < 0 or self.class_id.max() >= len(self.class_names)):
            raise ValueError(f"class_id out of range 0..{len(self.class_names) - 1}")

    @classmethod
    def from_arrays(
        cls,
        xyxy: np.ndarray | list,
        confidence: np.ndarray | list,
        class_id: np.ndarray | list,
        class_names: tuple[str, ...],
        tracker_id: np.ndarray | list | None = None,
    ) -> Detections:
        return cls(
            xyxy=np.asarray(xyxy, dtype=np.float32).reshape(-1, 4),
            confidence=np.asarray(confidence, dtype=np.float32).reshape(-1),
            class_id=np.asarray(class_id, dtype=np.int32).reshape(-1),
            class_names=tuple(class_names),
            tracker_id=None if tracker_id is None else np.asarray(tracker_id, dtype=np.int64).reshape(-1),
        )

    @classmethod
    def empty(cls, class_names: tuple[str, ...]) -> Detections:
        return cls.from_arrays(np.zeros((0, 4)), [], [], class_names)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        """Select by boolean mask or index array; returns a new object, never a view the caller could mutate."""
        return Detections(
            xyxy=self.xyxy[index].copy(),
            confidence=self.confidence[index].copy(),
            class_id=self.class_id[index].copy(),
            class_names=self.class_names,
            tracker_id=None if self.tracker_id is None else self.tracker_id[index].copy(),
            merged_class_id=None if self.merged_class_id is None else self.merged_class_id[index].copy(),
        )

    def names(self) -> list[str]:
        return [self.class_names[i] for i in self.class_id]

    def merged_names(self) -> list[str | None]:
        """Per detection, the class of the duplicate merged into it, or None."""
        if self.merged_class_id is None:
            return [None] * len(self)
        return [self.class_names[i] if i >= 0 else None for i in self.merged_class_id]

    def class_mask(self, names: set[str] | frozenset[str]) -> np.ndarray:
        """Boolean mask of detections whose class name is in `names`."""
        wanted = np.array([name in names for name in self.class_names], dtype=bool)
        return wanted[self.class_id] if len(self) else np.zeros(0, dtype=bool)

    def with_tracker_ids(self, tracker_id: np.ndarray) -> Detections:
        return Detections(
            self.xyxy,
            self.confidence,
            self.class_id,
            self.class_names,
            tracker_id.astype(np.int64),
            self.merged_class_id,
        )

    def anchors_bottom_center(self) -> np.ndarray:
        """(N, 2) pixel points where a vehicle touches the ground: the middle of each box's bottom edge."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)
