"""Citizens' reports over the API (issue 10): a hotline case becomes an incident without a device and a work order
through the same routing, severity, SLA and lifecycle as a detection; the case number is idempotent; the hotline
follows its case to the end; staff read the report behind an order."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from report_kit import admin, count, jpeg_b64, login, new_hotline, report

from cloud_hub.seed.demo import DEMO_GRIDS

GRID1 = DEMO_GRIDS[0]


@pytest.fixture(scope="module")
def hotline(client: TestClient) -> dict[str, str]:
    return new_hotline(client, "hotline-12345")


def test_a_report_becomes_an_incident_without_device_and_a_dispatched_order(
    client: TestClient, conn: psycopg.Connection, hotline: dict[str, str], evidence_dir: Path
) -> None:
    photo = jpeg_b64()
    body = report(photos=[{"data": photo, "note": "from the caller's phone"}])
    created = client.post("/api/v1/reports", json=body, headers=hotline)
    assert created.status_code == 201, created.text
    case = created.json()
    assert created.headers["location"] == f"/api/v1/reports/{body['case_number']}"
    assert (case["case_number"], case["category"], case["kind"]) == (
        body["case_number"],
        "illegal_parking",
        "illegal_parking",
    )
    assert (case["status"], case["incident_status"], case["grid_id"], case["district"]) == (
        "dispatched",
        "open",
        GRID1.grid_id,
        "nj-gulou",
    )
    assert case["severity"] == "yellow"  # severity.yaml: illegal parking without a dwell time
    assert [s["status"] for s in case["history"]] == ["reported", "registered", "dispatched"]
    assert case["photos"] == 1 and case["due_at"] is not None and case["dispatched_at"] is not None
    assert datetime.fromisoformat(case["reported_at"]) == datetime(2026, 11, 23, 1, 12, tzinfo=UTC)

    origin, device_id, first_event, event_count = conn.execute(
        "SELECT origin, device_id, first_event_id, event_count FROM incidents WHERE id = %s", (case["incident_id"],)
    ).fetchone()
    assert (origin, device_id, first_event, event_count) == ("report", None, None, 0)
    assignee, actors = conn.execute(
        "SELECT w.assignee, array_agg(t.actor ORDER BY t.id) FROM work_orders w"
        " JOIN work_order_transitions t ON t.work_order_id = w.id WHERE w.id = %s GROUP BY w.assignee",
        (case["work_order_id"],),
    ).fetchone()
    assert assignee == GRID1.officer and set(actors) == {"system"}
    note = conn.execute(
        "SELECT note FROM work_order_transitions WHERE work_order_id = %s AND to_status = 'dispatched'",
        (case["work_order_id"],),
    ).fetchone()[0]
    assert note.startswith(f"citizen's report, case {body['case_number']} from hotline-12345; dispatched to officer1")

    # The officer on duty sees the order, the citizen's photo on it, and the report behind it.
    officer = login(client, GRID1.officer)
    listed = client.get("/api/v1/work-orders", headers=officer).json()["data"]
    assert case["work_order_id"] in {o["id"] for o in listed}
    photos = client.get(f"/api/v1/work-orders/{case['work_order_id']}/photos", headers=officer).json()["data"]
    assert [(p["uploaded_by"], p["sha256"]) for p in photos] == [
        ("hotline:hotline-12345", hashlib.sha256(base64.b64decode(photo)).hexdigest())
    ]
    assert "from the caller's phone" in photos[0]["note"]
    sha = photos[0]["sha256"]
    assert (evidence_dir / sha[:2] / sha).read_bytes() == base64.b64decode(photo)
    behind = client.get(f"/api/v1/work-orders/{case['work_order_id']}/report", headers=officer)
    assert behind.status_code == 200, behind.text
    assert (behind.json()["text"], behind.json()["client_id"]) == (body["text"], "hotline-12345")
    assert (
        client.get(f"/api/v1/work-orders/{case['work_order_id']}/report", headers=login(client, "officer3")).status_code
        == 404
    )

    # Incidents without a device list and read like any other.
    incident = client.get(f"/api/v1/incidents/{case['incident_id']}", headers=admin(client))
    assert incident.status_code == 200, incident.text
    assert incident.json()["device_id"] is None and incident.json()["work_order"]["id"] == case["work_order_id"]
    listed = client.get("/api/v1/incidents", params={"kind": "illegal_parking"}, headers=admin(client))
    assert listed.status_code == 200 and case["incident_id"] in {i["id"] for i in listed.json()["data"]}


def test_the_case_number_is_idempotent(client: TestClient, conn: psycopg.Connection, hotline: dict[str, str]) -> None:
    body = report(photos=[{"data": jpeg_b64("blue")}])
    first = client.post("/api/v1/reports", json=body, headers=hotline)
    assert first.status_code == 201, first.text
    incidents, orders = count(conn, "SELECT count(*) FROM incidents"), count(conn, "SELECT count(*) FROM work_orders")

    # A retry after a lost answer (the time written another way is the same instant): the same case, nothing new.
    again = client.post("/api/v1/reports", json={**body, "reported_at": "2026-11-23T01:12:00Z"}, headers=hotline)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert (again.json()["incident_id"], again.json()["work_order_id"]) == (
        first.json()["incident_id"],
        first.json()["work_order_id"],
    )
    assert count(conn, "SELECT count(*) FROM incidents") == incidents
    assert count(conn, "SELECT count(*) FROM work_orders") == orders

    # Another case under the same number is refused, naming the number and what differs.
    other = client.post("/api/v1/reports", json={**body, "text": "something else", "photos": []}, headers=hotline)
    assert other.status_code == 409, other.text
    problem = other.json()
    assert problem["type"].endswith("/conflict") and body["case_number"] in problem["detail"]
    assert "text, photos" in problem["detail"]
    assert count(conn, "SELECT count(*) FROM work_orders") == orders

    # Case numbers belong to their hotline client: another client's same number is its own case.
    elsewhere = client.post("/api/v1/reports", json=body, headers=new_hotline(client))
    assert elsewhere.status_code == 201 and elsewhere.json()["work_order_id"] != first.json()["work_order_id"]


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"category": "noise"}, 422, "'noise' is not a hotline category (known: illegal_parking, kitchen_hygiene"),
        ({"place": {"lon": 118.79}}, 422, "lon and lat go together"),
        ({"place": {}}, 422, "say where"),
        ({"place": {"address": "somewhere", "district": "atlantis"}}, 422, "place.district: unknown district"),
        ({"case_number": "12/34"}, 422, "case_number"),
        ({"text": ""}, 422, "text"),
        ({"reported_at": "2026-11-23T09:12:00"}, 422, "reported_at"),
        ({"reported_at": "2099-01-01T09:00:00+08:00"}, 422, "reported_at: lies in the future"),
        ({"photos": [{"data": "not base64!"}]}, 422, "photos[0].data: not valid base64"),
        ({"photos": [{"data": base64.b64encode(b"plain text").decode()}]}, 415, "photos[0]: not an image"),
        ({"photos": [{"data": jpeg_b64()}] * 6}, 422, "photos"),
        ({"severity": "red"}, 422, "severity"),
    ],
)
def test_what_cannot_be_taken_is_refused_naming_the_field(
    client: TestClient, conn: psycopg.Connection, hotline: dict[str, str], change: dict, status: int, words: str
) -> None:
    before = count(conn, "SELECT count(*) FROM citizen_reports")
    refused = client.post("/api/v1/reports", json={**report(), **change}, headers=hotline)
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert words in refused.json()["detail"]
    assert count(conn, "SELECT count(*) FROM citizen_reports") == before  # a refused case never claims its number


def test_only_hotline_tokens_file_and_read_cases(client: TestClient, hotline: dict[str, str]) -> None:
    body = report()
    for headers in ({}, login(client, "commander1"), {"Authorization": "Bearer cityops_rc_not-a-token"}):
        refused = client.post("/api/v1/reports", json=body, headers=headers)
        assert refused.status_code == 401 and "hotline token required" in refused.json()["detail"]
    assert client.post("/api/v1/reports", json=body, headers=hotline).status_code == 201
    assert client.get(f"/api/v1/reports/{body['case_number']}", headers=hotline).status_code == 200
    # Another hotline client does not see this one's cases.
    assert client.get(f"/api/v1/reports/{body['case_number']}", headers=new_hotline(client)).status_code == 404


def test_a_place_outside_every_grid_waits_for_the_districts_commanders(
    client: TestClient, conn: psycopg.Connection, hotline: dict[str, str]
) -> None:
    body = report(place={"address": "Gulou, somewhere the hotline could not pin", "district": "nj-gulou"})
    case = client.post("/api/v1/reports", json=body, headers=hotline).json()
    assert (case["status"], case["grid_id"], case["district"]) == ("registered", None, "nj-gulou")
    assert case["dispatched_at"] is None
    queue, note = conn.execute(
        "SELECT w.queue, t.note FROM work_orders w JOIN work_order_transitions t ON t.work_order_id = w.id"
        " WHERE w.id = %s AND t.to_status = 'registered'",
        (case["work_order_id"],),
    ).fetchone()
    assert queue == "nj-gulou" and "address but no coordinates" in note and "commander queue of district" in note
    ids = {o["id"] for o in client.get("/api/v1/work-orders", headers=login(client, "commander1")).json()["data"]}
    assert case["work_order_id"] in ids


def test_the_category_sets_kind_subtype_and_severity(client: TestClient, hotline: dict[str, str]) -> None:
    flood = client.post("/api/v1/reports", json=report(category="waterlogging"), headers=hotline).json()
    assert (flood["kind"], flood["severity"]) == ("waterlogging", "orange")  # fixed in reports.yaml
    rodent = client.post("/api/v1/reports", json=report(category="kitchen_rodent"), headers=hotline).json()
    assert (rodent["kind"], rodent["severity"]) == ("kitchen_violation", "red")  # severity.yaml: subtype rodent


def test_the_hotline_follows_its_case_to_the_close(
    client: TestClient, conn: psycopg.Connection, hotline: dict[str, str]
) -> None:
    body = report()
    case = client.post("/api/v1/reports", json=body, headers=hotline).json()
    url = f"/api/v1/work-orders/{case['work_order_id']}/transitions"
    officer, commander = login(client, GRID1.officer), login(client, "commander1")
    for to, who, note in (
        ("accepted", officer, None),
        ("on_site", officer, None),
        ("resolved", officer, "Van towed; fire lane clear."),
        ("verified", commander, None),
        ("closed", commander, "checked on camera"),
    ):
        moved = client.post(url, json={"to": to, "note": note}, headers=who)
        assert moved.status_code == 200, moved.text

    followed = client.get(f"/api/v1/reports/{body['case_number']}", headers=hotline)
    assert followed.status_code == 200, followed.text
    now = followed.json()
    assert (now["status"], now["incident_status"]) == ("closed", "closed")
    assert now["resolution_note"] == "Van towed; fire lane clear."
    assert [s["status"] for s in now["history"]] == [
        "reported",
        "registered",
        "dispatched",
        "accepted",
        "on_site",
        "resolved",
        "verified",
        "closed",
    ]
    assert now["resolved_at"] is not None and now["closed_at"] >= now["resolved_at"]
    assert (
        count(conn, "SELECT count(*) FROM incidents WHERE id = %s AND ended_at IS NOT NULL", case["incident_id"]) == 1
    )


def test_admins_issue_rotate_and_revoke_hotline_tokens(client: TestClient) -> None:
    boss = admin(client)
    created = client.post("/api/v1/report-clients", json={"client_id": "hotline-rotate", "name": "12345"}, headers=boss)
    assert created.status_code == 201 and created.json()["token"].startswith("cityops_rc_")
    old = {"Authorization": f"Bearer {created.json()['token']}"}
    again = client.post("/api/v1/report-clients", json={"client_id": "hotline-rotate", "name": "x"}, headers=boss)
    assert again.status_code == 409
    listed = client.get("/api/v1/report-clients", headers=boss).json()
    assert "hotline-rotate" in {c["client_id"] for c in listed["data"]} and "token" not in listed["data"][0]
    assert (
        client.post(
            "/api/v1/report-clients", json={"client_id": "x-1", "name": "x"}, headers=login(client, "commander1")
        ).status_code
        == 403
    )

    rotated = client.post("/api/v1/report-clients/hotline-rotate/token", headers=boss)
    assert rotated.status_code == 200
    new = {"Authorization": f"Bearer {rotated.json()['token']}"}
    assert client.post("/api/v1/reports", json=report(), headers=old).status_code == 401
    assert client.post("/api/v1/reports", json=report(), headers=new).status_code == 201

    assert client.delete("/api/v1/report-clients/hotline-rotate", headers=boss).status_code == 204
    assert client.post("/api/v1/reports", json=report(), headers=new).status_code == 401
    assert client.delete("/api/v1/report-clients/nobody", headers=boss).status_code == 404

    changes = client.get(
        "/api/v1/admin/changes", params={"entity": "report_client", "entity_id": "hotline-rotate"}, headers=boss
    )
    assert changes.status_code == 200, changes.text
    assert [c["action"] for c in changes.json()["data"]] == ["revoke", "rotate_token", "create"]
    assert "token" not in str(changes.json()["data"][0]["after"]).replace("token_issued_at", "")
