"""Waterlogging on SYNTHETIC scenes (no licensed flood footage exists): gauge depth, road coverage, episodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from analytics_scoring import Score
from pydantic import ValidationError

from edge_agent.analytics.finding import FrameContext
from edge_agent.analytics.water_measure import GaugeCalibration, WaterCoverage, read_gauge
from edge_agent.analytics.waterlogging import Hysteresis, Trend, WaterloggingAnalytic, WaterloggingRuleConfig
from edge_agent.detections import Detections
from edge_agent.zones import Zone, ZoneConfig
from tests.edge_agent.scenes import flood, gauge

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
NAMES = ("person", "car")


def context(frame, names=NAMES) -> FrameContext:
    empty = Detections.empty(names)
    return FrameContext(frame.t, T0 + timedelta(seconds=frame.t), frame.image, empty.with_tracker_ids(empty.class_id))


def gauge_rule(**overrides) -> WaterloggingRuleConfig:
    data = {
        "type": "waterlogging",
        "id": "water.underpass",
        "version": 2,
        "gauge": {"id": "g1", "polygon": gauge.gauge_polygon_norm(), "top_cm": 50, "bottom_cm": 0},
        "confirm_s": 20,
        "update_every_s": 60,
        "smooth_frames": 3,
    }
    return WaterloggingRuleConfig.model_validate({**data, **overrides})


def test_synthetic_gauge_reading_depth_mae_precision_recall() -> None:
    calibration = GaugeCalibration(gauge.GAUGE_TOP_Y, 50.0, gauge.GAUGE_BOTTOM_Y, 0.0)
    polygon = np.asarray(gauge.gauge_polygon_norm()) * [gauge.WIDTH, gauge.HEIGHT]
    errors, score = [], Score()
    for seed in (0, 1):
        for frame in gauge.gauge_scene(seed=seed, n_frames=40):
            reading = read_gauge(frame.image, polygon, calibration, min_contrast=40)
            truth = frame.truth["depth_cm"]
            errors.append(abs(reading.depth_cm - truth))
            score.add(reading.depth_cm >= 5.0, truth >= 5.0)
    mae = float(np.mean(errors))
    score.line("waterlogging depth", "frames", f"MAE {mae:.2f} cm, ")
    assert mae < 1.5 and score.precision >= 0.9 and score.recall >= 0.9


def test_synthetic_gauge_episode_start_updates_trend_and_end() -> None:
    analytic = WaterloggingAnalytic("cam-w", gauge_rule(), [])
    frames = list(gauge.gauge_scene(seed=2, n_frames=60, dt_s=10))
    events = [(f, e) for f in frames for e in analytic.observe(context(f))]
    phases = [e.phase for _, e in events]
    assert phases[0] == "start" and phases[-1] == "end" and phases.count("start") == 1 and phases.count("end") == 1
    (start_frame, start), (end_frame, end) = events[0], events[-1]
    # Hysteresis: start only after >= 5 cm held for confirm_s; end only after < 2 cm held for confirm_s.
    assert start_frame.truth["depth_cm"] >= 5.0 and end_frame.truth["depth_cm"] < 2.0
    assert start.incident_key == end.incident_key and start.incident_key.startswith("cam-w/g1/waterlogging-depth/")
    assert start.subtype == "depth" and start.algorithm is not None and start.algorithm.name == "gauge_waterline"
    assert start.measurements["trend_cm_per_min"] > 0  # rising
    updates = [e for _, e in events if e.phase == "update"]
    assert any(e.measurements["trend_cm_per_min"] < 0 for e in updates)  # receding
    peak = max(e.measurements["water_depth_cm"] for e in updates)
    assert peak == pytest.approx(max(f.truth["depth_cm"] for f in frames), abs=2.0)
    assert {e.extra["severity_hint"] for e in updates} >= {"orange", "red"}  # bands follow depth
    assert analytic.open_keys() == []


def test_synthetic_flood_coverage_precision_recall_and_episode() -> None:
    zone = Zone(ZoneConfig(id="road", polygon=flood.ROAD_POLYGON_NORM))
    score, errors = Score(), []
    measurer = WaterCoverage(flood.road_mask())
    frames = list(flood.flood_scene(seed=3))
    for frame in frames:
        measured = measurer.measure(frame.image)
        if measured is None:
            continue
        coverage, mask = measured
        errors.append(abs(coverage - frame.truth["coverage"]))
        truth = frame.truth["water_mask"]
        score.tp += int((mask & truth).sum())
        score.fp += int((mask & ~truth).sum())
        score.fn += int((~mask & truth).sum())
    score.line("waterlogging coverage (pixels)", "pixels", f"coverage MAE {np.mean(errors):.3f}, ")
    assert np.mean(errors) < 0.08 and score.precision >= 0.9 and score.recall >= 0.75

    rule = WaterloggingRuleConfig(type="waterlogging", zones=["road"], confirm_s=20, smooth_frames=1)
    analytic = WaterloggingAnalytic("cam-w", rule, [zone])
    events = [(f, e) for f in frames for e in analytic.observe(context(f))]
    assert [e.phase for _, e in events if e.phase != "update"] == ["start", "end"]
    start_frame, start = events[0]
    assert start_frame.truth["coverage"] >= 0.25 and start.zone_id == "road" and start.subtype == "coverage"
    assert start.xyxy is not None and start.measurements["coverage"] >= 0.3


def test_coverage_leaves_detected_objects_out() -> None:
    measurer = WaterCoverage(flood.road_mask())
    frames = list(flood.flood_scene(seed=0))
    for frame in frames[:5]:
        measurer.measure(frame.image)
    wet = frames[25]
    full, _ = measurer.measure(wet.image)
    ys, xs = np.nonzero(wet.truth["water_mask"])
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    masked, mask = measurer.measure(wet.image, exclude=[box])
    assert full > 0.3 and masked < full / 2 and not mask[ys, xs].any()


def test_hysteresis_needs_confirmation_both_ways() -> None:
    h = Hysteresis(start_at=5, end_below=2, confirm_s=10)
    steps = [(0, 6), (5, 6), (9, 4), (10, 6), (20, 6), (25, 3), (30, 1), (35, 1), (40, 1)]
    assert [h.step(t, v) for t, v in steps] == [None, None, None, None, "start", None, None, None, "end"]


def test_trend_is_the_slope_per_minute_over_the_window() -> None:
    trend = Trend(window_s=60)
    for t in range(0, 200, 10):
        trend.add(float(t), 0.5 * t)  # 0.5 cm/s until 100 s...
    assert trend.per_min() == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gauge": None}, "needs a gauge, road zones"),
        ({"depth_end_cm": 6}, "depth_end_cm must be below"),
        ({"gauge": {"polygon": [[0, 0], [1, 0], [1, 1]]}}, "needs a calibration"),
        ({"gauge": {"polygon": [[0, 0], [1, 0], [1, 1]], "marks": [{"y": 0.1, "cm": 5}]}}, "exactly two marks"),
        ({"bands": [{"min_cm": 20, "severity": "red"}, {"min_cm": 10, "severity": "orange"}]}, "increasing"),
        ({"colour": 1}, "Extra inputs"),
    ],
)
def test_bad_waterlogging_rules_are_refused_with_the_reason(overrides, message) -> None:
    with pytest.raises(ValidationError, match=message):
        gauge_rule(**overrides)


def test_synthetic_cloud_shadow_on_dry_road_is_not_water() -> None:
    measurer = WaterCoverage(flood.road_mask())
    frames = list(flood.flood_scene(seed=5))
    readings = [measurer.measure(f.image) for f in frames[:8]]
    assert readings[:5] == [None] * 5  # learning the dry reference
    assert all(r is not None and r[0] < 0.01 for r in readings[5:8])  # frames 5-7 carry a dark cloud shadow


def test_gauge_calibration_from_two_marks() -> None:
    config = gauge_rule(
        gauge={"polygon": [[0.4, 0.1], [0.6, 0.1], [0.6, 0.9]], "marks": [{"y": 0.2, "cm": 40}, {"y": 0.6, "cm": 0}]}
    )
    calibration = config.gauge.calibration(frame_h=200)
    assert calibration.cm_at(40) == pytest.approx(40) and calibration.cm_at(120) == pytest.approx(0)
    assert calibration.cm_at(80) == pytest.approx(20)
