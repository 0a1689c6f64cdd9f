import pytest

from cityops.contract.topics import Topic, device_topic, parse_topic, shared_subscription


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("cityops/v1/dev/edge-0007/events", ("edge-0007", Topic.EVENTS)),
        ("cityops/v1/dev/wl.sensor_12/telemetry", ("wl.sensor_12", Topic.TELEMETRY)),
        ("cityops/v1/dev/edge-0007/cmd_result", ("edge-0007", Topic.CMD_RESULT)),
        ("cityops/v1/dev/ab/events", None),  # device id too short
        ("cityops/v1/dev/edge 7/events", None),  # space not allowed
        ("cityops/v1/dev/edge-0007/unknown", None),
        ("cityops/v2/dev/edge-0007/events", None),
        ("cityops/v1/dev/edge-0007/events/extra", None),
        ("", None),
    ],
)
def test_parse_topic(topic: str, expected: tuple[str, Topic] | None) -> None:
    assert parse_topic(topic) == expected


def test_device_topic_round_trip() -> None:
    for suffix in Topic:
        assert parse_topic(device_topic("edge-0007", suffix)) == ("edge-0007", suffix)


def test_device_topic_refuses_bad_id() -> None:
    with pytest.raises(ValueError, match="invalid device_id"):
        device_topic("a/b", Topic.EVENTS)
    with pytest.raises(ValueError, match="invalid device_id"):
        device_topic("x" * 65, Topic.EVENTS)


def test_shared_subscription() -> None:
    assert shared_subscription(Topic.EVENTS) == "$share/hub/cityops/v1/dev/+/events"
    assert shared_subscription(Topic.HEALTH, group="g2") == "$share/g2/cityops/v1/dev/+/health"
