"""Which events carry a picture: every start and end of a situation, and an update only when the scene changed.

A parked car seen for an hour sends an update every `update_every_s` (30 s in the shipped rules); with a picture
each, one camera uploaded 98 pictures (11 MB) in the demo's first 7.5 minutes, about 240 MB/s for a city of 10,000
cameras on 4G links. An update's picture says something new only when the object moved (its box overlaps the box
of the stay's last picture less than before) or the last picture is old; otherwise the event goes without one.
Pure: the recorder asks, per event, before anything is rendered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

UpdatePictures = Literal["changed", "always", "never"]
MAX_STAYS = 10_000  # open situations remembered; the oldest is forgotten first (its next update gets a picture)


@dataclass(frozen=True, slots=True)
class _Shown:
    box: tuple[float, float, float, float]
    ts: datetime


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class PicturePolicy:
    """`mode`: `changed` (default), `always` (a picture with every update, as before), `never` (updates never carry
    one). `min_change`: 1 - IoU between the update's box and the box of the stay's last picture that counts as a
    change; `refresh`: an ongoing stay still gets a fresh picture this often."""

    def __init__(self, mode: UpdatePictures = "changed", min_change: float = 0.3, refresh_s: float = 900.0) -> None:
        if not 0.0 < min_change <= 1.0:
            raise ValueError(f"min_change must be in (0, 1], got {min_change}")
        if refresh_s <= 0:
            raise ValueError(f"refresh_s must be positive, got {refresh_s}")
        self.mode = mode
        self.min_change = min_change
        self.refresh = timedelta(seconds=refresh_s)
        self._shown: OrderedDict[str, _Shown] = OrderedDict()
        self.skipped = 0  # updates sent without a picture by this policy

    def wants_picture(self, key: str, phase: str, box: Sequence[float], ts: datetime) -> bool:
        """Decide for one event of the situation `key` (its incident key) and remember what was shown."""
        if phase == "end":
            self._shown.pop(key, None)
            return True
        shown = self._shown.get(key)
        if phase == "update" and shown is not None:
            wanted = self.mode == "always" or (
                self.mode == "changed"
                and (1.0 - box_iou(shown.box, box) >= self.min_change or ts - shown.ts >= self.refresh)
            )
            if not wanted:
                self.skipped += 1
                return False
        self._shown[key] = _Shown((float(box[0]), float(box[1]), float(box[2]), float(box[3])), ts)
        self._shown.move_to_end(key)
        while len(self._shown) > MAX_STAYS:
            self._shown.popitem(last=False)
        return True
