"""Pixel measurements for waterlogging: a water gauge's reading and a road region's water coverage.

Pure functions and small stateful measurers over BGR frames; the event logic (hysteresis, trend, bands) lives in
`waterlogging.py`. Validated only on SYNTHETIC scenes (`tests/edge_agent/scenes`): no licensed flood footage exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class GaugeCalibration:
    """Linear map from an image row (pixels) to a gauge value (cm), from two known marks."""

    y1_px: float
    cm1: float
    y2_px: float
    cm2: float

    def __post_init__(self) -> None:
        if abs(self.y1_px - self.y2_px) < 1.0:
            raise ValueError("gauge calibration marks must be on different image rows")

    def cm_at(self, y_px: float) -> float:
        return self.cm1 + (y_px - self.y1_px) * (self.cm2 - self.cm1) / (self.y2_px - self.y1_px)


@dataclass(frozen=True, slots=True)
class GaugeReading:
    depth_cm: float
    """Water depth at the gauge (0 when no waterline is visible on it)."""
    waterline_y: float | None
    """Image row of the waterline in pixels; None when none was found."""
    contrast: float
    """Colour difference (CIE Lab units) between the gauge above and below the best line."""


def gauge_profile(image_bgr: np.ndarray, polygon_px: np.ndarray) -> tuple[np.ndarray, int]:
    """Per-row median Lab colour of the gauge region: ((R, 3) float32, first row's image y).

    The median across the gauge's width ignores the painted ticks and numbers (they cover well under half of
    each row), so the profile follows the board and the water, not the markings.
    """
    x, y, w, h = cv2.boundingRect(polygon_px.astype(np.int32))
    x, y = max(x, 0), max(y, 0)
    crop = image_bgr[y : y + h, x : x + w]
    if crop.size == 0:
        raise ValueError("the gauge polygon lies outside the frame")
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(mask, [polygon_px.astype(np.int32) - np.array([x, y], np.int32)], 1)
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    lab[mask == 0] = np.nan
    rows = np.nonzero(mask.any(axis=1))[0]
    return np.nanmedian(lab[rows], axis=1), y + int(rows[0])


def find_step(profile: np.ndarray, margin: int = 2) -> tuple[int, float]:
    """The row splitting `profile` (R, C) into the two most different parts: (row index, contrast).

    The strongest horizontal change at the scale of the whole gauge: a two-segment fit (mean above vs mean below,
    weighted by how balanced the split is) finds the waterline and is not fooled by a single dark tick row,
    which a plain row-to-row gradient would pick.
    """
    n = len(profile)
    if n < 2 * margin + 2:
        return 0, 0.0
    csum = np.cumsum(profile, axis=0)
    total = csum[-1]
    r = np.arange(margin, n - margin)
    above = csum[r - 1] / r[:, None]
    below = (total - csum[r - 1]) / (n - r)[:, None]
    diff = np.linalg.norm(above - below, axis=1)
    score = diff * np.sqrt(r * (n - r)) / n
    best = int(np.argmax(score))
    return int(r[best]), float(diff[best])


def read_gauge(
    image_bgr: np.ndarray, polygon_px: np.ndarray, calibration: GaugeCalibration, min_contrast: float
) -> GaugeReading:
    """Depth in cm from the waterline on a calibrated gauge; water is the part below the line."""
    profile, top = gauge_profile(image_bgr, polygon_px)
    row, contrast = find_step(profile)
    if contrast < min_contrast:
        return GaugeReading(depth_cm=0.0, waterline_y=None, contrast=contrast)
    waterline = float(top + row)
    return GaugeReading(depth_cm=max(0.0, calibration.cm_at(waterline)), waterline_y=waterline, contrast=contrast)


def local_texture(gray: np.ndarray, k: int) -> np.ndarray:
    """Local contrast: std / mean over k x k windows. Relative, so a shadow (darker, same grain) keeps its texture."""
    mean = cv2.blur(gray, (k, k))
    sq = cv2.blur(gray * gray, (k, k))
    return np.sqrt(np.maximum(sq - mean * mean, 0.0)) / (mean + 8.0)


@dataclass(frozen=True, slots=True)
class CoverageParams:
    delta_e: float = 12.0
    """Least Lab colour change against the dry reference for a pixel to count as changed."""
    texture_ratio: float = 0.6
    """A pixel is smooth when its local texture is below this fraction of the dry road's."""
    reference_frames: int = 5
    """Frames averaged into the dry reference before any measurement (the road must be dry at start)."""
    adapt_rate: float = 0.02
    """How fast the reference follows slow light changes, only while the road is seen dry."""
    window: int = 7


class WaterCoverage:
    """Fraction of a road region that looks like water against a learned dry reference.

    Water on asphalt is smooth (standing water hides the grain: local texture drops) and changes colour (sky
    reflection, bluish-grey or brown tint). A pixel counts as water only when both hold, so shadows (darker,
    grain kept) and wet-but-not-flooded road (grain kept) do not. Objects in `exclude` boxes (cars, people)
    are left out of both the count and the area.
    """

    def __init__(self, mask: np.ndarray, params: CoverageParams = CoverageParams()) -> None:
        if mask.dtype != bool or not mask.any():
            raise ValueError("coverage mask must be a non-empty boolean image")
        ys, xs = np.nonzero(mask)
        self.box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        x1, y1, x2, y2 = self.box
        self.mask = mask[y1:y2, x1:x2]
        self.params = params
        self._ref_lab: np.ndarray | None = None
        self._ref_tex: np.ndarray | None = None
        self._learned = 0
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    @property
    def ready(self) -> bool:
        return self._learned >= self.params.reference_frames

    def _features(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x1, y1, x2, y2 = self.box
        crop = image_bgr[y1:y2, x1:x2]
        lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return lab, local_texture(gray, self.params.window)

    def measure(
        self, image_bgr: np.ndarray, exclude: list[tuple[float, float, float, float]] = ()
    ) -> tuple[float, np.ndarray] | None:
        """(coverage 0..1, water mask of the whole frame), or None while the dry reference is being learned."""
        lab, tex = self._features(image_bgr)
        if not self.ready:
            self._learn(lab, tex, 1.0 / (self._learned + 1))
            self._learned += 1
            return None
        p = self.params
        delta = np.linalg.norm(lab - self._ref_lab, axis=2)
        water = (delta >= p.delta_e) & (tex < p.texture_ratio * self._ref_tex + 0.005)
        water = cv2.morphologyEx(water.astype(np.uint8), cv2.MORPH_OPEN, self._kernel).astype(bool)
        area = self.mask.copy()
        x1, y1 = self.box[:2]
        for bx1, by1, bx2, by2 in exclude:
            area[max(int(by1) - y1, 0) : max(int(by2) - y1, 0), max(int(bx1) - x1, 0) : max(int(bx2) - x1, 0)] = False
        water &= area
        total = int(area.sum())
        coverage = float(water.sum()) / total if total else 0.0
        if coverage < 0.02:  # only a dry road teaches the reference, or rising water would become "dry"
            self._learn(lab, tex, p.adapt_rate)
        full = np.zeros(image_bgr.shape[:2], bool)
        full[y1 : self.box[3], x1 : self.box[2]] = water
        return coverage, full

    def _learn(self, lab: np.ndarray, tex: np.ndarray, rate: float) -> None:
        if self._ref_lab is None:
            self._ref_lab, self._ref_tex = lab.copy(), tex.copy()
            return
        self._ref_lab += rate * (lab - self._ref_lab)
        self._ref_tex += rate * (tex - self._ref_tex)


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Pixel bounding box of a boolean mask, None when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
