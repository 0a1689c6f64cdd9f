"""The soak's verdict: a bounded series that still climbs in the run's last half is `growing without bound`; a
warm-up climb in the first half followed by a plateau is not."""

from __future__ import annotations

from bench.soak import slope_per_h, verdict

LIMITS = {"rss_mb_": 30.0, "outbox_depth": 600.0}


def test_slope_is_per_hour() -> None:
    assert slope_per_h([(0.0, 0.0), (1800.0, 10.0), (3600.0, 20.0)]) == 20.0
    assert slope_per_h([(5.0, 3.0)]) == 0.0


def test_warm_up_then_plateau_is_bounded() -> None:
    samples = [{"t_s": t, "rss_mb_worker0": min(50.0 + t, 110.0), "outbox_depth": 0} for t in range(0, 600, 5)]
    result = verdict(samples, LIMITS)
    assert result["verdict"] == "bounded"
    rss = result["series"]["rss_mb_worker0"]
    assert rss["growing"] is False and (rss["start"], rss["end"]) == (50.0, 110.0)


def test_a_queue_still_climbing_in_the_last_half_is_growing() -> None:
    samples = [{"t_s": t, "rss_mb_worker0": 100.0, "outbox_depth": t * 2, "db_mb": t} for t in range(0, 600, 5)]
    result = verdict(samples, LIMITS)
    assert result["verdict"] == "growing without bound" and result["growing"] == ["outbox_depth"]
    assert "growing" not in result["series"]["db_mb"]  # grows by design; reported, not judged
