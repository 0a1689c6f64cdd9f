"""Users, duty rosters and cameras through the API on a real database: validation with the field named, the
self-protection of admins, commanders' read access, routing following roster and user changes at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud_hub.admin.rosters import RosterFields, RosterPublic, on_duty
from cloud_hub.admin.users import password_problem

Login = Callable[..., dict[str, str]]
BASE = "/api/v1/admin"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_password_policy() -> None:
    assert password_problem("alice", "short") == "password must have at least 10 characters (got 5)"
    assert password_problem("alice-1234", "ALICE-1234") == "password must not be the username"
    assert password_problem("alice", "long enough pass") is None


def entry(username: str, priority: int = 100, active: bool = True, **window: object) -> RosterPublic:
    fields = RosterFields(grid_id="g", username=username, priority=priority, **window)  # type: ignore[arg-type]
    return RosterPublic(roster_id=username, district_id=None, user_active=active, **fields.model_dump())


def test_on_duty_follows_the_router() -> None:
    night = entry("night", priority=1, weekdays=[5], start_time="22:00", end_time="06:00")
    day = entry("day", priority=5, start_time="08:00", end_time="18:00")
    anytime = entry("anytime", priority=50)
    gone = entry("gone", priority=0, active=False)
    saturday_2am = datetime(2026, 3, 7, 2, 0, tzinfo=SHANGHAI)  # Friday's night shift, after midnight
    officer, present = on_duty([anytime, day, night, gone], "g", saturday_2am)
    assert officer == "night" and [e.username for e in present] == ["night", "anytime"]
    officer, present = on_duty([anytime, day, night, gone], "g", datetime(2026, 3, 7, 9, 0, tzinfo=SHANGHAI))
    assert officer == "day" and [e.username for e in present] == ["day", "anytime"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"weekdays": [0, 8]}, "weekdays must be a non-empty list of 1..7"),
        ({"weekdays": []}, "weekdays must be a non-empty list"),
        ({"start_time": "08:00"}, "start_time and end_time go together"),
        ({"start_time": "08:00", "end_time": "08:00"}, "leave both out for an all-day shift"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"priority": -1}, "greater than or equal to 0"),
    ],
)
def test_roster_rules_are_explained(client: TestClient, admin: dict[str, str], fields: dict, words: str) -> None:
    body = {"grid_id": "nj-gulou-02", "username": "officer2", **fields}
    refused = client.post(f"{BASE}/rosters", json=body, headers=admin)
    assert refused.status_code == 422 and words in refused.json()["detail"], refused.text


def test_rosters_crud_on_duty_and_routing(client: TestClient, admin: dict[str, str], login: Login) -> None:
    index = lambda: client.app.state.grids.index  # noqa: E731  (reloaded in place by each change)
    monday_noon = "2026-03-02T12:00:00+08:00"
    body = {"grid_id": "nj-gulou-02", "username": "officer5", "weekdays": ["mon", "tue"], "start_time": "08:00",
            "end_time": "18:00", "priority": 10}  # fmt: skip
    created = client.post(f"{BASE}/rosters", json=body, headers=admin)
    assert created.status_code == 201, created.text
    roster = created.json()
    assert roster["weekdays"] == [1, 2] and roster["start_time"] == "08:00:00" and roster["district_id"] == "nj-gulou"
    assert index().officer_on_duty("nj-gulou-02", datetime.fromisoformat(monday_noon)) == "officer5"
    commander = login("commander1")
    duty = client.get(
        f"{BASE}/rosters/on-duty", params={"grid_id": "nj-gulou-02", "at": monday_noon}, headers=commander
    )
    assert duty.status_code == 200, duty.text
    assert duty.json()["officer"] == "officer5" and duty.json()["supervisor"] == "commander1"
    assert [e["username"] for e in duty.json()["on_duty"]] == ["officer5", "officer2"]
    naive = client.get(f"{BASE}/rosters/on-duty", params={"grid_id": "nj-gulou-02", "at": "2026-03-02T12:00"},
                       headers=admin)  # fmt: skip
    assert naive.status_code == 422 and naive.json()["errors"][0]["loc"] == ["query", "at"]

    listed = client.get(f"{BASE}/rosters", params={"username": "officer5"}, headers=commander).json()
    assert listed["count"] == 2 and {r["grid_id"] for r in listed["data"]} == {"nj-gulou-02", "nj-gulou-05"}
    path = f"{BASE}/rosters/{roster['roster_id']}"
    half = client.patch(path, json={"start_time": None}, headers=admin)
    assert half.status_code == 422 and "start_time and end_time go together" in half.json()["detail"]
    moved = client.patch(path, json={"weekdays": None, "start_time": None, "end_time": None, "priority": 200},
                         headers=admin)  # fmt: skip
    assert moved.status_code == 200 and moved.json()["weekdays"] is None
    assert index().officer_on_duty("nj-gulou-02", datetime.fromisoformat(monday_noon)) == "officer2"
    demo = client.get(f"{BASE}/rosters/demo/nj-gulou-01/officer1", headers=admin)  # ids with slashes
    assert demo.status_code == 200 and demo.json()["username"] == "officer1"
    wrong = client.post(f"{BASE}/rosters", json={**body, "username": "tech1"}, headers=admin)
    assert wrong.status_code == 422 and "rosters are for: officer" in wrong.json()["detail"]
    assert client.post(f"{BASE}/rosters", json=body, headers=commander).status_code == 403
    assert client.delete(path, headers=admin).status_code == 204
    assert client.get(path, headers=admin).status_code == 404


def test_users_lifecycle(client: TestClient, admin: dict[str, str], login: Login, database_url: str) -> None:
    body = {"username": "cmd-east", "password": "east-commander-pw", "role": "commander", "display_name": "East",
            "districts": ["nj-gulou"]}  # fmt: skip
    created = client.post(f"{BASE}/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["districts"] == ["nj-gulou"] and user["grids"] == [] and user["active"] is True
    assert "password" not in created.text and "hash" not in created.text
    assert client.post(f"{BASE}/users", json=body, headers=admin).status_code == 409
    weak = client.post(
        f"{BASE}/users", json={**body, "username": "x-long-name", "password": "x-long-name"}, headers=admin
    )
    assert weak.status_code == 422 and weak.json()["errors"][0]["loc"] == ["body", "password"]
    nowhere = client.post(f"{BASE}/users", json={**body, "username": "y", "districts": ["atlantis"]}, headers=admin)
    assert nowhere.status_code == 422 and "unknown district 'atlantis'" in nowhere.json()["detail"]

    officer1 = client.get(f"{BASE}/users/officer1", headers=admin).json()
    assert officer1["grids"] == [{"grid_id": "nj-gulou-01", "relation": "roster"}]
    commander1 = client.get(f"{BASE}/users/commander1", headers=admin).json()
    assert {g["relation"] for g in commander1["grids"]} == {"supervisor"}
    found = client.get(f"{BASE}/users", params={"district_id": "nj-gulou", "role": "officer", "q": "OFFICER"},
                       headers=admin).json()  # fmt: skip
    assert found["count"] == 6
    commander = login("commander1")
    seen = client.get(f"{BASE}/users", headers=commander).json()
    assert "tech1" not in {u["username"] for u in seen["data"]}
    assert client.get(f"{BASE}/users/tech1", headers=commander).status_code == 404
    assert client.patch(f"{BASE}/users/officer1", json={"role": "admin"}, headers=commander).status_code == 403

    demoted = client.patch(f"{BASE}/users/officer6", json={"role": "technician"}, headers=admin)
    assert demoted.status_code == 409 and "roster of grids nj-gulou-06" in demoted.json()["detail"]
    supervisor = client.post(f"{BASE}/users/commander1/disable", headers=admin)
    assert supervisor.status_code == 409 and "supervises grids" in supervisor.json()["detail"]
    me = client.patch(f"{BASE}/users/admin", json={"role": "commander"}, headers=admin)
    assert me.status_code == 409 and "cannot demote or disable themselves" in me.json()["detail"]
    assert client.post(f"{BASE}/users/admin/disable", headers=admin).status_code == 409

    changed = client.patch(f"{BASE}/users/cmd-east", json={"display_name": "East side", "districts": []}, headers=admin)
    assert changed.json()["display_name"] == "East side" and changed.json()["districts"] == []
    reset = client.post(f"{BASE}/users/cmd-east/password", json={"password": "a-brand-new-pw"}, headers=admin)
    assert reset.status_code == 200
    east = login("cmd-east", "a-brand-new-pw")
    assert client.get("/api/v1/auth/me", headers=east).status_code == 200
    assert client.post(f"{BASE}/users/cmd-east/disable", headers=admin).json()["active"] is False
    assert client.get("/api/v1/auth/me", headers=east).status_code == 401  # at once, not at token expiry

    # A disabled officer stops routing work at once: the next officer on the roster takes the grid.
    extra = {"grid_id": "nj-gulou-03", "username": "officer4", "priority": 500}
    assert client.post(f"{BASE}/rosters", json=extra, headers=admin).status_code == 201
    assert client.post(f"{BASE}/users/officer3/disable", headers=admin).status_code == 200
    now = datetime.now(SHANGHAI)
    assert client.app.state.grids.index.officer_on_duty("nj-gulou-03", now) == "officer4"
    trail = client.get(f"{BASE}/changes", params={"entity": "user", "entity_id": "cmd-east"}, headers=admin).json()
    assert [c["action"] for c in trail["data"]] == ["disable", "reset_password", "update", "create"]
    assert "a-brand-new-pw" not in str(trail) and "east-commander-pw" not in str(trail)
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE username = 'cmd-east'").fetchone()[0]
    assert stored.startswith("$argon2") and stored not in str(trail)


def test_cameras(client: TestClient, admin: dict[str, str], login: Login, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO devices (device_id, kind, secret_hash) VALUES ('edge-new-01', 'edge', 'x')")
    tech = login("tech1")
    body = {"camera_id": "cam-new-01", "device_id": "edge-new-01", "name": "Gate", "lon": 118.7969, "lat": 32.0603,
            "district": "nj-gulou"}  # fmt: skip
    created = client.post(f"{BASE}/cameras", json=body, headers=tech)
    assert created.status_code == 201, created.text
    assert created.json()["grid_id"] == "nj-gulou-01"
    half = client.post(f"{BASE}/cameras", json={**body, "camera_id": "cam-x", "lat": None}, headers=tech)
    assert half.status_code == 422 and "lon and lat go together" in half.json()["detail"]
    far = client.post(f"{BASE}/cameras", json={**body, "camera_id": "cam-x", "lat": 95}, headers=tech)
    assert far.status_code == 422 and far.json()["errors"][0]["loc"] == ["body", "lat"]
    ghost = client.post(f"{BASE}/cameras", json={**body, "camera_id": "cam-x", "device_id": "edge-ghost"}, headers=tech)
    assert ghost.status_code == 422 and "not provisioned" in ghost.json()["detail"]
    moved = client.patch(f"{BASE}/cameras/cam-new-01", json={"lon": None, "lat": None}, headers=tech)
    assert moved.status_code == 200 and moved.json()["grid_id"] is None and moved.json()["lon"] is None
    alone = client.patch(f"{BASE}/cameras/cam-new-01", json={"lon": 118.8}, headers=tech)
    assert alone.status_code == 422 and alone.json()["errors"][0]["loc"] == ["body", "lat"]
    unplaced = client.get(
        f"{BASE}/cameras", params={"placed": False, "district": "nj-gulou"}, headers=login("commander1")
    )
    assert [c["camera_id"] for c in unplaced.json()["data"]] == ["cam-new-01"]
    assert client.get(f"{BASE}/cameras", headers=login("officer1")).status_code == 403
    assert client.delete(f"{BASE}/cameras/cam-new-01", headers=tech).status_code == 403
    assert client.delete(f"{BASE}/cameras/cam-new-01", headers=admin).status_code == 204
    trail = client.get(f"{BASE}/changes", params={"entity": "camera"}, headers=admin).json()["data"]
    assert [(c["action"], c["actor"]) for c in trail] == [("delete", "admin"), ("update", "tech1"), ("create", "tech1")]
