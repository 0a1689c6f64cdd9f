"""Event-quality scoring (edge_agent/evaluation/scoring.py) on hand-made cases."""

from __future__ import annotations

import pytest

from edge_agent.evaluation.scoring import Interval, score


def iv(start: float, end: float, zone: str | None = "kerb", analytic: str = "parking") -> Interval:
    return Interval(analytic, zone, start, end)


def test_exact_match_is_one_true_positive_without_start_error() -> None:
    s = score([iv(10, 50)], [iv(10, 50)], tolerance_s=3)["parking"]
    assert (s.tp, s.fp, s.fn, s.duplicates) == (1, 0, 0, 0)
    assert (s.precision, s.recall, s.f1, s.mean_start_error_s) == (1.0, 1.0, 1.0, 0.0)


def test_a_late_start_still_matches_and_reports_its_error() -> None:
    s = score([iv(10, 50), iv(100, 140)], [iv(14.5, 50), iv(101, 140)], tolerance_s=3)["parking"]
    assert (s.tp, s.fp, s.fn) == (2, 0, 0)
    assert s.mean_start_error_s == pytest.approx(2.75) and s.max_start_error_s == pytest.approx(4.5)


def test_a_second_event_for_one_stay_is_a_duplicate_and_a_false_positive() -> None:
    s = score([iv(10, 50)], [iv(10, 30), iv(32, 50)], tolerance_s=3)["parking"]
    assert (s.tp, s.fp, s.fn, s.duplicates) == (1, 1, 0, 1)
    assert s.precision == 0.5 and s.recall == 1.0


def test_missed_stay_and_alarm_outside_any_stay() -> None:
    s = score([iv(10, 50)], [iv(80, 90)], tolerance_s=3)["parking"]
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)
    assert s.f1 == 0.0


def test_tolerance_lets_an_alarm_just_after_an_early_end_match() -> None:
    assert score([iv(10, 20)], [iv(22, 30)], tolerance_s=3)["parking"].tp == 1
    assert score([iv(10, 20)], [iv(22, 30)], tolerance_s=1)["parking"].tp == 0


def test_zone_and_analytic_must_agree() -> None:
    scores = score([iv(10, 50)], [iv(10, 50, zone="other"), iv(10, 50, zone=None, analytic="camera_fault")], 3)
    assert (scores["parking"].tp, scores["parking"].fp, scores["parking"].fn) == (0, 1, 1)
    assert (scores["camera_fault"].fp, scores["camera_fault"].precision) == (1, 0.0)


def test_nearest_start_wins_when_one_event_overlaps_two_stays() -> None:
    s = score([iv(0, 40), iv(45, 90)], [iv(46, 90), iv(1, 40)], tolerance_s=5)["parking"]
    assert (s.tp, s.fp, s.duplicates) == (2, 0, 0) and s.max_start_error_s == 1


def test_no_labels_and_no_events_give_no_ratio() -> None:
    s = score([], [iv(1, 2, analytic="camera_fault", zone=None)], 3)["camera_fault"]
    assert s.precision == 0.0 and s.recall is None and s.f1 is None


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="before start"):
        iv(10, 5)
    with pytest.raises(ValueError, match="tolerance_s"):
        score([], [], -1)
