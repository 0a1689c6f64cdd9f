"""Live messages, pure: positions, the envelope, topics, and who sees what (the same rule as the REST lists)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from cloud_hub.auth.scope import Scope
from cloud_hub.live.messages import TOPICS, LiveMessage, Position, parse_topics, visible

AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
ADMIN = Scope("admin", "admin")
CITY = Scope("chief", "commander")  # no district: the whole city
GULOU = Scope("c-gulou", "commander", districts=frozenset({"nj-gulou"}))
OFFICER = Scope("officer1", "officer", grids=frozenset({"g-1"}))
TECH = Scope("tech1", "technician")


def message(topic: str, **scope_columns: str | None) -> LiveMessage:
    return LiveMessage(Position(10, 1), AT, topic, "x", "{}", **scope_columns)


def test_position_round_trip_and_order() -> None:
    assert str(Position(812, 4031)) == "812.4031"
    assert Position.parse("812.4031") == Position(812, 4031)
    assert Position(5, 99) < Position(6, 1) < Position(6, 2)


@pytest.mark.parametrize("text", ["", "812", "812.", "a.b", "1.2.3", "-1.2", "9" * 21 + ".1"])
def test_bad_position_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected <txid>\.<id>"):
        Position.parse(text)


def test_envelope_is_json_with_the_payload_verbatim() -> None:
    m = LiveMessage(Position(7, 3), AT, "work_order", "transition", '{"work_order":{"id":5},"steps":[]}')
    assert orjson.loads(m.envelope()) == {
        "id": "7.3",
        "topic": "work_order",
        "op": "transition",
        "at": "2026-12-03T08:00:00+00:00",
        "data": {"work_order": {"id": 5}, "steps": []},
    }


# (scope, message, visible?)
CASES = [
    (ADMIN, message("incident", grid_id="g-9", district="other"), True),
    (CITY, message("work_order", grid_id="g-9", district="other"), True),
    (GULOU, message("incident", grid_id="g-1", district="nj-gulou"), True),
    (GULOU, message("incident", grid_id="g-9", district="other"), False),
    (GULOU, message("work_order", district=None), False),
    (OFFICER, message("incident", grid_id="g-1", district="nj-gulou"), True),
    (OFFICER, message("incident", grid_id="g-2", district="nj-gulou"), False),
    (OFFICER, message("work_order", grid_id="g-1", assignee="officer9"), True),  # their grid
    (OFFICER, message("work_order", grid_id="g-7", assignee="officer1"), True),  # assigned to them elsewhere
    (OFFICER, message("work_order", assignee="officer1"), True),  # `unassigned`: to the previous holder
    (OFFICER, message("work_order", grid_id="g-7", assignee="officer2"), False),
    (OFFICER, message("device", device_id="edge-1"), False),
    (OFFICER, message("mode"), True),
    (TECH, message("device", device_id="edge-1"), True),
    (TECH, message("incident", kind="camera_fault", grid_id="g-1"), True),
    (TECH, message("incident", kind="illegal_parking", grid_id="g-1"), False),
    (TECH, message("work_order", kind="camera_fault", grid_id="g-1"), False),
    (GULOU, message("device", device_id="edge-1"), True),
]


@pytest.mark.parametrize(("scope", "msg", "expected"), CASES)
def test_visible_follows_the_scope(scope: Scope, msg: LiveMessage, expected: bool) -> None:
    assert visible(scope, frozenset(TOPICS), msg) is expected


def test_visible_only_for_subscribed_topics() -> None:
    assert not visible(ADMIN, frozenset({"device"}), message("incident"))


def test_topics_default_to_what_the_role_may_see() -> None:
    assert parse_topics(None, ADMIN) == frozenset(TOPICS)
    assert parse_topics("", OFFICER) == frozenset({"incident", "work_order", "mode"})
    assert parse_topics(None, TECH) == frozenset({"incident", "device", "mode"})
    assert parse_topics("work_order, mode", OFFICER) == frozenset({"work_order", "mode"})
    with pytest.raises(ValueError, match="unknown alarms; choose from incident"):
        parse_topics("work_order,alarms", OFFICER)


def test_a_device_message_gets_its_status_judged_on_the_hubs_clock() -> None:
    """The trigger's row carries timestamps as JSON text (clock_offset_at included); the relay parses each before
    judging the status: a text one once killed the relay thread."""
    from cloud_hub.live.relay import enrich

    now = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    row = {"device_id": "edge-1", "online": True, "last_seen": "2026-12-04T03:00:00+00:00",
           "health": {"ts": "2026-12-04T03:00:00+00:00"}, "clock_offset_s": -18000.0,
           "clock_offset_at": "2026-12-04T07:59:50+00:00"}  # fmt: skip
    message = LiveMessage(Position(1, 1), now, "device", "update", orjson.dumps(row).decode(), device_id="edge-1")
    data = orjson.loads(enrich(message, now).data_json)
    assert data["status"] == "online" and data["clock_skewed"] is True  # 5 h behind, heard 10 s ago
