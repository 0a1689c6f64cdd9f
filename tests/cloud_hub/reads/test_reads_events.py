"""Event list and evidence pictures over HTTP on a real database, for every role; plate text by role.

The city is `reads_world`'s: car-1 (two events, plate text, evidence), car-2, car-3, fault (evidence) in nj-gulou;
water and `lonely` (an event no incident took up, placed in nj-xuanwu) in nj-xuanwu.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from reads_world import JPEG, PLATE, World

EVERY_EVENT = {"car-1/start", "car-1/update", "car-2/start", "car-3/start", "fault/start", "water/start", "lonely"}


def events_of(client: TestClient, world: World, user: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/events", params={"limit": 1000, **params}, headers=world.as_(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["data"])
    return body["data"]


def names(world: World, rows: list[dict[str, Any]]) -> set[str]:
    by_id = {v: k for k, v in world.events.items()}
    return {by_id[row["event_id"]] for row in rows}


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("admin", EVERY_EVENT),
        ("commander1", EVERY_EVENT),
        ("cmd-gulou", {"car-1/start", "car-1/update", "car-2/start", "car-3/start", "fault/start"}),
        ("cmd-xuanwu", {"water/start", "lonely"}),  # lonely: by the place of its source, no incident needed
        ("officer1", {"car-1/start", "car-1/update", "fault/start"}),
        ("officer2", {"car-2/start"}),
        ("officer3", {"car-3/start"}),
        ("officer9", {"car-3/start"}),  # assigned to them
        ("officer7", {"water/start"}),  # not lonely: officers see the events of their incidents
        ("tech1", {"fault/start"}),
    ],
)
def test_events_are_scoped_by_role(client: TestClient, world: World, user: str, expected: set[str]) -> None:
    assert names(world, events_of(client, world, user)) == expected


def test_filters_still_apply_inside_the_scope(client: TestClient, world: World) -> None:
    assert names(world, events_of(client, world, "officer1", kind="camera_fault")) == {"fault/start"}
    assert names(world, events_of(client, world, "officer1", incident_key="car-2")) == set()
    assert names(world, events_of(client, world, "admin", incident_key="car-2")) == {"car-2/start"}


@pytest.mark.parametrize(
    ("user", "sees"), [("admin", True), ("commander1", True), ("cmd-gulou", True), ("officer1", True)]
)
def test_plate_text_for_those_who_handle_the_case(client: TestClient, world: World, user: str, sees: bool) -> None:
    rows = {row["event_id"]: row for row in events_of(client, world, user, incident_key="car-1")}
    start, update = rows[world.events["car-1/start"]]["payload"], rows[world.events["car-1/update"]]["payload"]
    if sees:
        assert start["plate"] == PLATE and [p["text"] for p in update["plates"]] == ["苏A12345", "苏B54321"]
    else:
        assert "plate" not in start and "plates" not in update
    assert start["model"]["name"] == "yolov8n-parking" and start["measurements"] == {"dwell_s": 120}


def test_technicians_never_get_plate_text_and_officers_only_in_their_scope(client: TestClient, world: World) -> None:
    for user in ("officer2", "officer3", "officer7", "officer9", "tech1"):  # none of them sees car-1
        for row in events_of(client, world, user):
            assert "苏" not in str(row), (user, row)
    assert names(world, events_of(client, world, "cmd-xuanwu", incident_key="stall-1")) == {"lonely"}
    assert events_of(client, world, "cmd-xuanwu", incident_key="stall-1")[0]["payload"]["plate"] == PLATE


@pytest.mark.parametrize(
    ("event", "allowed", "refused"),
    [
        (
            "car-1/start",
            ("admin", "commander1", "cmd-gulou", "officer1"),
            ("cmd-xuanwu", "officer2", "officer9", "tech1"),
        ),
        ("fault/start", ("admin", "cmd-gulou", "officer1", "tech1"), ("cmd-xuanwu", "officer7")),
    ],
)
def test_evidence_by_scope(
    client: TestClient, world: World, event: str, allowed: tuple[str, ...], refused: tuple[str, ...]
) -> None:
    url = f"/api/v1/evidence/{world.events[event]}"
    for user in allowed:
        got = client.get(url, headers=world.as_(user))
        assert got.status_code == 200 and got.content == JPEG, user
    for user in refused:
        got = client.get(url, headers=world.as_(user))
        assert got.status_code == 403, user
        assert got.json()["detail"].split()[0] in ("officers", "technicians", "commanders"), got.json()
    why = client.get(f"/api/v1/evidence/{world.events['car-1/start']}", headers=world.as_("cmd-xuanwu")).json()
    assert "nj-xuanwu" in why["detail"]
