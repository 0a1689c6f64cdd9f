"""partition_of: which ingest writer a message goes to (pure)."""

from __future__ import annotations

from collections import Counter

from cloud_hub.ingest.inbound import partition_of


def test_a_device_always_goes_to_the_same_writer_whatever_the_topic_suffix() -> None:
    for n in range(50):
        device = f"edge-{n:03d}"
        targets = {partition_of(f"cityops/v1/dev/{device}/{suffix}", 4) for suffix in ("events", "health", "state")}
        assert len(targets) == 1


def test_devices_are_spread_over_all_writers() -> None:
    counts = Counter(partition_of(f"cityops/v1/dev/edge-{n:04d}/events", 4) for n in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert min(counts.values()) > 800  # about 1,000 each


def test_one_writer_or_a_topic_of_another_shape_goes_to_the_first() -> None:
    assert partition_of("cityops/v1/dev/edge-001/events", 1) == 0
    assert partition_of("not/a/device/topic", 4) == 0
    assert partition_of("", 4) == 0
