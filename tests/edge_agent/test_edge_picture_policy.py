"""Start and end always carry a picture; an update only when the object moved or the last picture is old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge_agent.evidence.policy import MAX_STAYS, PicturePolicy

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
CAR = (100.0, 200.0, 220.0, 280.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_parked_car_sends_pictures_with_start_and_end_only() -> None:
    policy = PicturePolicy()
    assert policy.wants_picture("stay-1", "start", CAR, at(0))
    updates = [policy.wants_picture("stay-1", "update", CAR, at(30 * n)) for n in range(1, 20)]  # 9.5 minutes
    assert updates == [False] * 19
    assert policy.wants_picture("stay-1", "end", CAR, at(600))
    assert policy.skipped == 19


def test_a_moved_object_gets_a_picture_then_counts_from_there() -> None:
    policy = PicturePolicy(min_change=0.3)
    policy.wants_picture("stay-1", "start", CAR, at(0))
    nudged = (105.0, 200.0, 225.0, 280.0)  # IoU 0.92: the same place
    moved = (160.0, 200.0, 280.0, 280.0)  # IoU 0.33
    assert not policy.wants_picture("stay-1", "update", nudged, at(30))
    assert policy.wants_picture("stay-1", "update", moved, at(60))
    assert not policy.wants_picture("stay-1", "update", moved, at(90)), "compared with the new picture's box"


def test_a_long_stay_gets_a_fresh_picture_every_refresh_period() -> None:
    policy = PicturePolicy(refresh_s=900)
    policy.wants_picture("stay-1", "start", CAR, at(0))
    wanted = [t for t in range(30, 3601, 30) if policy.wants_picture("stay-1", "update", CAR, at(t))]
    assert wanted == [900, 1800, 2700, 3600]


def test_stays_are_judged_apart_and_a_new_stay_starts_fresh() -> None:
    policy = PicturePolicy()
    policy.wants_picture("stay-1", "start", CAR, at(0))
    assert policy.wants_picture("stay-2", "update", CAR, at(30)), "an update of a stay never shown gets one"
    policy.wants_picture("stay-1", "end", CAR, at(60))
    assert policy.wants_picture("stay-1", "update", CAR, at(90)), "after its end the key is forgotten"


@pytest.mark.parametrize(("mode", "expected"), [("always", [True, True, True]), ("never", [False, False, False])])
def test_modes(mode: str, expected: list[bool]) -> None:
    policy = PicturePolicy(mode)  # type: ignore[arg-type]
    policy.wants_picture("stay-1", "start", CAR, at(0))
    moved = (400.0, 10.0, 500.0, 90.0)
    assert [
        policy.wants_picture("stay-1", "update", b, at(30 * (n + 1))) for n, b in enumerate([CAR, moved, CAR])
    ] == expected
    assert policy.wants_picture("stay-1", "end", CAR, at(120))


def test_memory_is_bounded() -> None:
    policy = PicturePolicy()
    for n in range(MAX_STAYS + 5):
        policy.wants_picture(f"stay-{n}", "start", CAR, at(0))
    assert policy.wants_picture("stay-0", "update", CAR, at(30)), "the oldest stay was forgotten"
    assert not policy.wants_picture(f"stay-{MAX_STAYS + 4}", "update", CAR, at(30))


@pytest.mark.parametrize(("kwargs", "message"), [({"min_change": 0}, "min_change"), ({"refresh_s": 0}, "refresh_s")])
def test_bad_settings_are_refused_by_name(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PicturePolicy(**kwargs)
