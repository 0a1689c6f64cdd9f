"""Waterlogging: water depth on a calibrated gauge and water coverage of road regions, with hysteresis and trend.

Subtype `depth` (one gauge per rule) and `coverage` (one per road zone). An episode starts when the smoothed value
has stayed at or above `*_start` for `confirm_s`, ends when it has stayed below `*_end` for `confirm_s` (the gap
between the two thresholds keeps a waterline bobbing around one value from flapping), and sends rate-limited
updates in between, at once when the depth band changes. Trend is the least-squares slope over `trend_window_s`.
Validated only on SYNTHETIC scenes (`tests/edge_agent/scenes`).
"""

from __future__ import annotations

from collections import deque
from typing import Annotated, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_agent.analytics import water_measure
from edge_agent.analytics.finding import AlgorithmRef, Finding, FrameContext, episode_stamp
from edge_agent.analytics.water_measure import CoverageParams, GaugeCalibration, WaterCoverage, mask_box, read_gauge
from edge_agent.zones import Coord, Zone

KIND = "waterlogging"
# The pixel work is in water_measure.py: its source hash identifies the exact code behind a reading.
GAUGE_ALGORITHM = AlgorithmRef.of_module("gauge_waterline", "1", water_measure.__file__)
COVERAGE_ALGORITHM = AlgorithmRef.of_module("water_coverage_vs_dry_reference", "1", water_measure.__file__)
Severity = Literal["blue", "yellow", "orange", "red"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GaugeMark(_Strict):
    y: Coord = Field(description="row of a painted mark, 0..1 of the frame height")
    cm: float = Field(description="the gauge value at that mark")


class GaugeConfig(_Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "gauge"
    polygon: list[tuple[Coord, Coord]] = Field(min_length=3, description="the gauge board, [[x, y], ...] in 0..1")
    marks: list[GaugeMark] | None = Field(None, description="two marks: their rows and cm values")
    top_cm: float | None = Field(None, description="instead of marks: the value at the polygon's top edge")
    bottom_cm: float | None = Field(None, description="instead of marks: the value at the polygon's bottom edge")
    min_contrast: float = Field(40.0, gt=0, description="least Lab colour step that counts as a waterline")

    @model_validator(mode="after")
    def _calibrated(self) -> GaugeConfig:
        if self.marks is not None:
            if len(self.marks) != 2 or abs(self.marks[0].y - self.marks[1].y) < 1e-3:
                raise ValueError("gauge.marks must be exactly two marks on different rows")
            if self.top_cm is not None or self.bottom_cm is not None:
                raise ValueError("give gauge.marks or gauge.top_cm/bottom_cm, not both")
        elif self.top_cm is None or self.bottom_cm is None or self.top_cm == self.bottom_cm:
            raise ValueError("gauge needs a calibration: two marks, or different top_cm and bottom_cm")
        return self

    def calibration(self, frame_h: int) -> GaugeCalibration:
        if self.marks is not None:
            a, b = self.marks
            return GaugeCalibration(a.y * frame_h, a.cm, b.y * frame_h, b.cm)
        ys = [p[1] for p in self.polygon]
        return GaugeCalibration(min(ys) * frame_h, float(self.top_cm), max(ys) * frame_h, float(self.bottom_cm))


class DepthBand(_Strict):
    min_cm: float = Field(ge=0)
    severity: Severity


DEFAULT_BANDS = [
    DepthBand(min_cm=0, severity="blue"),
    DepthBand(min_cm=10, severity="yellow"),
    DepthBand(min_cm=20, severity="orange"),
    DepthBand(min_cm=40, severity="red"),
]


class WaterloggingRuleConfig(_Strict):
    type: Literal["waterlogging"]
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "waterlogging"
    version: int = Field(1, ge=1)
    zones: list[str] = Field([], description="road zones whose water coverage is measured")
    classes: list[str] = Field([], description="detected objects (cars, people) left out of the coverage")
    min_confidence: float = Field(0.35, ge=0, le=1)
    gauge: GaugeConfig | None = None
    depth_start_cm: float = Field(5.0, gt=0)
    depth_end_cm: float = Field(2.0, ge=0)
    coverage_start: float = Field(0.3, gt=0, le=1)
    coverage_end: float = Field(0.1, ge=0, le=1)
    confirm_s: float = Field(10.0, ge=0, description="how long a threshold must hold before start or end")
    update_every_s: float = Field(60.0, gt=0)
    trend_window_s: float = Field(120.0, gt=0)
    smooth_frames: int = Field(5, ge=1, le=100, description="median over this many readings against ripples")
    bands: list[DepthBand] = Field(DEFAULT_BANDS, min_length=1)
    reference_frames: int = Field(5, ge=1, description="frames of dry road learned as the coverage reference")
    delta_e: float = Field(12.0, gt=0)
    texture_ratio: float = Field(0.6, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> WaterloggingRuleConfig:
        if self.gauge is None and not self.zones:
            raise ValueError("waterlogging needs a gauge, road zones for coverage, or both")
        if self.depth_end_cm >= self.depth_start_cm:
            raise ValueError("depth_end_cm must be below depth_start_cm (hysteresis)")
        if self.coverage_end >= self.coverage_start:
            raise ValueError("coverage_end must be below coverage_start (hysteresis)")
        mins = [b.min_cm for b in self.bands]
        if mins != sorted(set(mins)):
            raise ValueError("bands must be in increasing min_cm order without repeats")
        return self


class Trend:
    """Least-squares slope of (seconds, value) over a sliding window, in value units per minute."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._points: deque[tuple[float, float]] = deque()

    def add(self, now: float, value: float) -> None:
        self._points.append((now, value))
        while self._points and now - self._points[0][0] > self.window_s:
            self._points.popleft()

    def per_min(self) -> float:
        if len(self._points) < 3:
            return 0.0
        t, v = np.array(self._points).T
        if t[-1] - t[0] <= 0:
            return 0.0
        return float(np.polyfit(t - t[0], v, 1)[0] * 60.0)


class Hysteresis:
    """Episode state of one smoothed value: returns 'start', 'end' or None per step."""

    def __init__(self, start_at: float, end_below: float, confirm_s: float) -> None:
        self.start_at, self.end_below, self.confirm_s = start_at, end_below, confirm_s
        self.active = False
        self._since: float | None = None

    def step(self, now: float, value: float) -> Literal["start", "end"] | None:
        crossing = value < self.end_below if self.active else value >= self.start_at
        if not crossing:
            self._since = None
            return None
        if self._since is None:
            self._since = now
        if now - self._since < self.confirm_s:
            return None
        self._since = None
        self.active = not self.active
        return "start" if self.active else "end"


class _Channel:
    """One measured quantity (a gauge's depth or a zone's coverage) with smoothing, trend and episodes."""

    def __init__(self, cfg: WaterloggingRuleConfig, start_at: float, end_below: float) -> None:
        self.recent: deque[float] = deque(maxlen=cfg.smooth_frames)
        self.trend = Trend(cfg.trend_window_s)
        self.episode = Hysteresis(start_at, end_below, cfg.confirm_s)
        self.update_every_s = cfg.update_every_s
        self.key: str | None = None
        self.last_report = 0.0
        self.last_band = -1

    def step(self, now: float, raw: float, band: int = -1) -> tuple[str | None, float]:
        self.recent.append(raw)
        value = float(np.median(self.recent))
        self.trend.add(now, value)
        phase = self.episode.step(now, value)
        if phase is None and self.episode.active:
            due = now - self.last_report >= self.update_every_s
            phase = "update" if due or band != self.last_band else None
        if phase is not None:
            self.last_report, self.last_band = now, band
        return phase, value


class WaterloggingAnalytic:
    def __init__(self, camera_id: str, config: WaterloggingRuleConfig, zones: list[Zone]) -> None:
        self.camera_id = camera_id
        self.config = config
        self.zones = zones
        self.classes = frozenset(config.classes)
        self.depth = _Channel(config, config.depth_start_cm, config.depth_end_cm) if config.gauge else None
        self.coverage = {z.id: _Channel(config, config.coverage_start, config.coverage_end) for z in zones}
        self._measurers: dict[str, WaterCoverage] = {}
        self._frame_wh: tuple[int, int] | None = None
        self.params = CoverageParams(
            delta_e=config.delta_e, texture_ratio=config.texture_ratio, reference_frames=config.reference_frames
        )

    def band(self, depth_cm: float) -> tuple[int, Severity]:
        index = max(i for i, b in enumerate(self.config.bands) if depth_cm >= b.min_cm or i == 0)
        return index, self.config.bands[index].severity

    def observe(self, frame: FrameContext) -> list[Finding]:
        if self._frame_wh != frame.wh:  # pixel masks follow the stream's resolution
            self._frame_wh = frame.wh
            self._measurers = {z.id: self._measurer(z, frame.wh) for z in self.zones}
        findings = []
        if self.depth is not None:
            findings.extend(self._observe_gauge(frame))
        findings.extend(self._observe_coverage(frame))
        return findings

    def _measurer(self, zone: Zone, wh: tuple[int, int]) -> WaterCoverage:
        mask = np.zeros((wh[1], wh[0]), np.uint8)
        cv2.fillPoly(mask, [zone.pixel_polygon(wh)], 1)
        return WaterCoverage(mask.astype(bool), self.params)

    def _observe_gauge(self, frame: FrameContext) -> list[Finding]:
        gauge, channel = self.config.gauge, self.depth
        w, h = frame.wh
        polygon = np.asarray(gauge.polygon) * np.asarray([w, h])
        reading = read_gauge(frame.image, polygon, gauge.calibration(h), gauge.min_contrast)
        band, severity = self.band(reading.depth_cm)
        phase, depth = channel.step(frame.mono, reading.depth_cm, band)
        if phase is None:
            return []
        band, severity = self.band(depth)
        if phase == "start":
            channel.key = f"{self.camera_id}/{gauge.id}/waterlogging-depth/{episode_stamp(frame.ts)}"
        x1, y1 = polygon.min(axis=0)
        x2, y2 = polygon.max(axis=0)
        trend = round(channel.trend.per_min(), 2)
        finding = Finding(
            kind=KIND,
            subtype="depth",
            phase=phase,
            incident_key=channel.key,
            confidence=min(1.0, reading.contrast / (2 * gauge.min_contrast)),
            measurements={"water_depth_cm": round(depth, 1), "trend_cm_per_min": trend, "depth_band": band},
            label=f"water {depth:.0f} cm ({trend:+.1f} cm/min) {severity}",
            xyxy=(float(x1), float(y1), float(x2), float(y2)),
            algorithm=GAUGE_ALGORITHM,
            extra={"severity_hint": severity, "gauge_id": gauge.id},
        )
        if phase == "end":
            channel.key = None
        return [finding]

    def _observe_coverage(self, frame: FrameContext) -> list[Finding]:
        d = frame.detections
        occluders = d[d.class_mask(self.classes) & (d.confidence >= self.config.min_confidence)] if len(d) else d
        exclude = [tuple(float(v) for v in box) for box in occluders.xyxy]
        findings = []
        for zone in self.zones:
            measured = self._measurers[zone.id].measure(frame.image, exclude)
            if measured is None:
                continue
            raw, water = measured
            channel = self.coverage[zone.id]
            phase, coverage = channel.step(frame.mono, raw)
            if phase is None:
                continue
            if phase == "start":
                channel.key = f"{self.camera_id}/{zone.id}/waterlogging-coverage/{episode_stamp(frame.ts)}"
            trend = round(channel.trend.per_min(), 3)
            findings.append(
                Finding(
                    kind=KIND,
                    subtype="coverage",
                    phase=phase,
                    incident_key=channel.key,
                    confidence=min(1.0, 0.5 + coverage / 2),
                    measurements={"coverage": round(coverage, 3), "coverage_trend_per_min": trend},
                    label=f"water {coverage:.0%} of {zone.id} ({trend:+.2f}/min)",
                    zone_id=zone.id,
                    xyxy=mask_box(water),
                    algorithm=COVERAGE_ALGORITHM,
                )
            )
            if phase == "end":
                channel.key = None
        return findings

    def open_keys(self) -> list[str]:
        channels = ([self.depth] if self.depth else []) + list(self.coverage.values())
        return [c.key for c in channels if c.key]
