"""Records an event durably: evidence picture (faces blurred) on disk, then the event in the outbox.

The picture is written and fsynced first and the outbox row that points at it is committed second, so no
stored event ever refers to a missing picture; a crash in between leaves only an orphan file, pruned at start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.comms.outbox import Outbox, OutboxFull
from edge_agent.config import EvidenceConfig
from edge_agent.evidence.privacy import FaceBlurrer
from edge_agent.evidence.render import render_evidence, write_evidence
from edge_agent.metrics import EdgeMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EvidenceRequest:
    """What to draw on the frame: the object's box and label, and the zone outline (pixels)."""

    frame: np.ndarray
    ts: datetime
    box_xyxy: tuple[float, float, float, float]
    label: str
    zone_px: np.ndarray | None


class EventRecorder:
    def __init__(
        self,
        outbox: Outbox,
        evidence_dir: Path,
        evidence: EvidenceConfig,
        blurrer: FaceBlurrer | None,
        on_recorded: Callable[[], None] = lambda: None,
        metrics: EdgeMetrics | None = None,
    ) -> None:
        if evidence.enabled and evidence.blur_faces and blurrer is None:
            raise ValueError("evidence.blur_faces is on but no face detector was given")
        self.outbox = outbox
        self.evidence_dir = evidence_dir
        self.evidence = evidence
        self.blurrer = blurrer if evidence.blur_faces else None
        self.on_recorded = on_recorded
        self.metrics = metrics
        self.recorded = 0

    def record(self, event: dict[str, Any], request: EvidenceRequest | None) -> int | None:
        """Store the event (with its picture when `request` is given); returns its seq, None when refused."""
        path = None
        if request is not None and self.evidence.enabled:
            picture = render_evidence(
                request.frame,
                box_xyxy=request.box_xyxy,
                zone_px=request.zone_px,
                label=request.label,
                ts=request.ts,
                blurrer=self.blurrer,
                max_width=self.evidence.max_width,
                jpeg_quality=self.evidence.jpeg_quality,
            )
            path = write_evidence(self.evidence_dir, event["event_id"], picture)
            event = {**event, "evidence": picture.ref}
        try:
            seq = self.outbox.append(event, evidence_path=path)
        except OutboxFull as exc:
            log.error("%s (incident %s, phase %s)", exc, event["incident_key"], event["phase"])
            if self.metrics is not None:
                self.metrics.events_refused.inc()
            if path is not None:
                path.unlink(missing_ok=True)
            return None
        except Exception:
            if path is not None:
                path.unlink(missing_ok=True)
            raise
        self.recorded += 1
        if self.metrics is not None:
            self.metrics.on_event(event["kind"], event["phase"])
        log.info("event seq %d: %s %s %s", seq, event["kind"], event["phase"], event["incident_key"])
        self.on_recorded()
        return seq
