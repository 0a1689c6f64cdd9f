"""Commands, desired configuration and snapshots through the HTTP API, on a real database, with the hub's auth;
publishing is recorded by a stand-in for IngestService."""

from __future__ import annotations

import hashlib
import threading

import psycopg
import pytest
from control_testkit import RecordingIngest, basic, bearer, provision
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloud_hub.core.config import HubSettings
from cloud_hub.devices.control import ControlError, next_config_version

JPEG_A = b"\xff\xd8\xff\xe0" + b"snapshot-a" * 100
JPEG_B = b"\xff\xd8\xff\xe0" + b"snapshot-b" * 100


def store_cmd_result(database_url: str, device_id: str, cmd_id: str, ok: bool, detail: str) -> None:
    """What ingest stores when the device's cmd_result arrives (cloud_hub.ingest.storage.record_cmd_result)."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO cmd_results (device_id, cmd_id, ok, detail, payload) VALUES (%s, %s, %s, %s, '{}')",
            (device_id, cmd_id, ok, detail),
        )


def report_health(database_url: str, device_id: str, config_version: int, config_error: str | None = None) -> None:
    """What ingest records from a health snapshot: the applied config version (and the device's refusal reason)."""
    health = psycopg.types.json.Jsonb({"config_version": config_version, "config_error": config_error})
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE devices SET config_version = %s, health = %s WHERE device_id = %s",
            (config_version, health, device_id),
        )


def test_command_is_audited_published_and_reports_the_device_result(
    client: TestClient, settings: HubSettings, database_url: str, ingest: RecordingIngest
) -> None:
    device_id, _ = provision(client, settings)
    url = f"/api/v1/devices/{device_id}/commands"
    sent = client.post(url, json={"name": "ping"}, headers=bearer(settings, "tech"))
    assert sent.status_code == 202, sent.text
    cmd_id = sent.json()["cmd_id"]
    assert ingest.commands == [(device_id, cmd_id, "ping", {})]

    pending = client.get(f"{url}/{cmd_id}", headers=bearer(settings, "boss")).json()
    assert (pending["status"], pending["sent_by"], pending["role"], pending["ok"]) == (
        "pending", "tech", "technician", None,
    )  # fmt: skip
    store_cmd_result(database_url, device_id, cmd_id, True, "pong")
    done = client.get(f"{url}/{cmd_id}", headers=bearer(settings, "adm")).json()
    assert (done["status"], done["detail"]) == ("ok", "pong") and done["result_at"] is not None

    restart = client.post(url, json={"name": "restart_pipeline", "args": {"camera_id": "cam-1"}},
                          headers=bearer(settings, "adm"))  # fmt: skip
    failed_id = restart.json()["cmd_id"]
    store_cmd_result(database_url, device_id, failed_id, False, "restart_pipeline failed: no camera 'cam-1'")
    failed = client.get(f"{url}/{failed_id}", headers=bearer(settings, "tech")).json()
    assert failed["status"] == "failed" and "no camera" in failed["detail"] and failed["args"] == {"camera_id": "cam-1"}
    history = client.get(url, headers=bearer(settings, "tech")).json()
    assert [c["cmd_id"] for c in history["data"]] == [failed_id, cmd_id] and history["count"] == 2

    # A result from another device never answers this device's command.
    other_id, _ = provision(client, settings)
    third = client.post(url, json={"name": "ping"}, headers=bearer(settings, "tech")).json()["cmd_id"]
    store_cmd_result(database_url, other_id, third, True, "pong")
    assert client.get(f"{url}/{third}", headers=bearer(settings, "tech")).json()["status"] == "pending"
    foreign = client.get(f"/api/v1/devices/{other_id}/commands/{third}", headers=bearer(settings, "tech"))
    assert foreign.status_code == 404


def test_command_refusals(client: TestClient, settings: HubSettings, app: FastAPI, ingest: RecordingIngest) -> None:
    device_id, _ = provision(client, settings)
    url = f"/api/v1/devices/{device_id}/commands"
    assert client.post(url, json={"name": "ping"}).status_code == 401
    officer = client.post(url, json={"name": "ping"}, headers=bearer(settings, "off"))
    assert officer.status_code == 403 and "officer" in officer.json()["detail"]
    assert client.post(url, json={"name": "ping"}, headers=bearer(settings, "boss")).status_code == 403
    bad = client.post(url, json={"name": "Self Destruct", "argz": {}}, headers=bearer(settings, "tech"))
    assert bad.status_code == 422 and {"name", "argz"} <= {e["loc"][-1] for e in bad.json()["detail"]}
    huge = client.post(url, json={"name": "ping", "args": {"x": "y" * 20000}}, headers=bearer(settings, "tech"))
    assert huge.status_code == 422 and "16384 bytes" in huge.text
    unknown = client.post("/api/v1/devices/edge-nope/commands", json={"name": "ping"}, headers=bearer(settings, "tech"))
    assert unknown.status_code == 404 and "not provisioned" in unknown.json()["detail"]
    assert ingest.commands == []

    ingest.fail = ConnectionError("broker gone")
    failed = client.post(url, json={"name": "ping"}, headers=bearer(settings, "tech"))
    assert failed.status_code == 503 and "broker gone" in failed.json()["detail"]
    (audited,) = client.get(url, headers=bearer(settings, "tech")).json()["data"]  # the attempt is audited
    assert audited["status"] == "unsent" and "broker gone" in audited["send_error"] and audited["sent_by"] == "tech"

    app.state.ingest = None
    api_only = client.post(url, json={"name": "ping"}, headers=bearer(settings, "tech"))
    assert api_only.status_code == 503 and "CITYOPS_INGEST" in api_only.json()["detail"]


def test_command_audit_rows_cannot_be_rewritten(client: TestClient, settings: HubSettings, database_url: str,
                                                 ingest: RecordingIngest) -> None:  # fmt: skip
    device_id, _ = provision(client, settings)
    client.post(f"/api/v1/devices/{device_id}/commands", json={"name": "ping"}, headers=bearer(settings, "tech"))
    with psycopg.connect(database_url) as conn:
        for statement in (
            "UPDATE device_commands SET actor = 'someone-else' WHERE device_id = %s",
            "UPDATE device_commands SET cmd_id = 'forged' WHERE device_id = %s",
            "DELETE FROM device_commands WHERE device_id = %s",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="audit trail"), conn.transaction():
                conn.execute(statement, (device_id,))


@pytest.mark.parametrize(
    ("current", "applied", "expected", "result"),
    [(None, None, None, 1), (None, None, 0, 1), (3, 3, 3, 4), (3, None, None, 4), (2, 9, None, 10), (5, 1, 5, 6)],
)
def test_next_config_version(current: int | None, applied: int | None, expected: int | None, result: int) -> None:
    assert next_config_version(current, applied, expected) == result


def test_next_config_version_refuses_a_stale_base() -> None:
    with pytest.raises(ControlError, match="at version 4, not 3") as err:
        next_config_version(4, 4, 3)
    assert err.value.status == 409


def test_desired_config_versions_publish_and_applied_state(
    client: TestClient, settings: HubSettings, database_url: str, ingest: RecordingIngest
) -> None:
    device_id, _ = provision(client, settings)
    url = f"/api/v1/devices/{device_id}/config"
    empty = client.get(url, headers=bearer(settings, "boss")).json()
    assert empty == {"device_id": device_id, "desired": None, "applied_version": None, "config_error": None,
                     "in_sync": False}  # fmt: skip
    camera = {"camera_id": "cam-1", "version": 2, "zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]]}],
              "analytics": [{"type": "parking", "zones": ["z"]}]}  # fmt: skip
    first = client.put(url, json={"cameras": [camera]}, headers=bearer(settings, "tech"))
    assert first.status_code == 200, first.text
    desired = first.json()["desired"]
    assert desired["version"] == 1 and desired["config"] == {"cameras": [camera], "version": 1}
    assert ingest.configs == [(device_id, {"cameras": [camera], "version": 1})]

    stale = client.put(url, json={"version": 0, "cameras": []}, headers=bearer(settings, "adm"))
    assert stale.status_code == 409 and "at version 1, not 0" in stale.json()["detail"]
    second = client.put(url, json={"version": 1, "cameras": []}, headers=bearer(settings, "adm"))
    assert second.json()["desired"]["version"] == 2 and ingest.configs[-1] == (device_id, {"cameras": [], "version": 2})

    report_health(database_url, device_id, 2)
    state = client.get(url, headers=bearer(settings, "tech")).json()
    assert (state["applied_version"], state["in_sync"]) == (2, True)
    report_health(database_url, device_id, 2, "version 3: cameras[0].camera_id: 'cam-9' is not a camera of this device")
    cam9 = {**camera, "camera_id": "cam-9"}
    third = client.put(url, json={"cameras": [cam9]}, headers=bearer(settings, "tech")).json()
    assert third["in_sync"] is False and "cam-9" in third["config_error"]
    history = client.get(f"{url}/history", headers=bearer(settings, "tech")).json()
    assert [(h["version"], h["set_by"]) for h in history["data"]] == [(3, "tech"), (2, "adm"), (1, "tech")]
    assert history["count"] == 3

    republished = client.post(f"{url}/publish", headers=bearer(settings, "adm"))
    assert republished.status_code == 200 and ingest.configs[-1] == ingest.configs[-2]

    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("UPDATE device_configs SET actor = 'x' WHERE device_id = %s", (device_id,))


def test_desired_config_refusals(client: TestClient, settings: HubSettings, ingest: RecordingIngest) -> None:
    device_id, _ = provision(client, settings)
    url = f"/api/v1/devices/{device_id}/config"
    assert client.put(url, json={}, headers=bearer(settings, "boss")).status_code == 403
    tech = bearer(settings, "tech")
    twice = client.put(url, json={"cameras": [{"camera_id": "c1"}, {"camera_id": "c1"}]}, headers=tech)
    assert twice.status_code == 422 and "repeated: c1" in twice.text
    bad = client.put(url, json={"version": "seven", "cameras": [{"camera_id": "a/b"}]}, headers=tech)
    assert bad.status_code == 422 and {"version", "camera_id"} <= {e["loc"][-1] for e in bad.json()["detail"]}
    no_pub = client.post(f"{url}/publish", headers=bearer(settings, "tech"))
    assert no_pub.status_code == 404 and "no desired configuration" in no_pub.json()["detail"]
    assert ingest.configs == []

    ingest.fail = ConnectionError("broker gone")
    failed = client.put(url, json={"cameras": []}, headers=bearer(settings, "tech"))
    assert failed.status_code == 502 and "version 1 is stored" in failed.json()["detail"]
    ingest.fail = None
    retried = client.post(f"{url}/publish", headers=bearer(settings, "tech"))
    assert retried.status_code == 200 and ingest.configs == [(device_id, {"cameras": [], "version": 1})]


def test_concurrent_config_updates_publish_in_version_order(
    client: TestClient, settings: HubSettings, ingest: RecordingIngest
) -> None:
    device_id, _ = provision(client, settings)
    url = f"/api/v1/devices/{device_id}/config"
    statuses: list[int] = []

    def put(n: int) -> None:
        r = client.put(url, json={"cameras": [], "note": f"writer {n}"}, headers=bearer(settings, "tech"))
        statuses.append(r.status_code)

    threads = [threading.Thread(target=put, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 4
    # The retained message is always the newest version: publishes happen in the order versions were assigned.
    assert [c["version"] for _, c in ingest.configs] == [1, 2, 3, 4]


def test_snapshot_upload_rules_viewing_and_pruning(
    client: TestClient, settings: HubSettings, ingest: RecordingIngest
) -> None:
    device_id, secret = provision(client, settings)
    other_id, other_secret = provision(client, settings)
    cmds = f"/api/v1/devices/{device_id}/commands"
    snap_ids = [
        client.post(cmds, json={"name": "snapshot", "args": {"camera_id": "cam-1"}},
                    headers=bearer(settings, "tech")).json()["cmd_id"]
        for _ in range(3)
    ]  # fmt: skip
    ping_id = client.post(cmds, json={"name": "ping"}, headers=bearer(settings, "tech")).json()["cmd_id"]
    latest = f"/api/v1/devices/{device_id}/snapshots/latest"
    assert client.get(latest, headers=bearer(settings, "tech")).status_code == 404

    def put(cmd_id: str, body: bytes, auth: dict, sha: str | None = None, **headers: str):
        return client.put(
            f"/api/v1/devices/{device_id}/snapshots/{cmd_id}",
            content=body,
            headers={"Content-Type": "image/jpeg", "X-Content-SHA256": sha or hashlib.sha256(body).hexdigest(),
                     **auth, **headers},
        )  # fmt: skip

    assert put(snap_ids[0], JPEG_A, {}).status_code == 401
    assert put(snap_ids[0], JPEG_A, basic(device_id, "wrong")).status_code == 401
    foreign = put(snap_ids[0], JPEG_A, basic(other_id, other_secret))
    assert foreign.status_code == 403 and "its own" in foreign.json()["detail"]
    mine = basic(device_id, secret)
    assert put(snap_ids[0], JPEG_A, mine, sha="0" * 64).status_code == 400
    assert put(snap_ids[0], b"GIF89a....", mine).status_code == 415
    assert put(ping_id, JPEG_A, mine).status_code == 404  # not a snapshot command
    assert put("never-sent", JPEG_A, mine).status_code == 404

    first = put(snap_ids[0], JPEG_A, mine, **{"X-Camera-Id": "cam-1"})
    assert first.status_code == 201 and first.json()["created"] and first.json()["camera_id"] == "cam-1"
    again = put(snap_ids[0], JPEG_A, mine)
    assert again.status_code == 200 and not again.json()["created"]
    assert put(snap_ids[0], JPEG_B, mine).status_code == 409

    picture = client.get(latest, headers=bearer(settings, "boss"))
    assert picture.status_code == 200 and picture.content == JPEG_A
    assert picture.headers["content-type"] == "image/jpeg" and picture.headers["x-snapshot-cmd-id"] == snap_ids[0]
    assert client.get(latest, headers=bearer(settings, "off")).status_code == 403
    assert client.get(latest + "?camera_id=cam-2", headers=bearer(settings, "tech")).status_code == 404

    # Without X-Camera-Id the command's camera_id is used; only the newest `snapshot_keep` (2) per camera stay.
    assert put(snap_ids[1], JPEG_B, mine).status_code == 201
    jpeg_c = JPEG_B + b"c"
    assert put(snap_ids[2], jpeg_c, mine).status_code == 201
    listed = client.get(f"/api/v1/devices/{device_id}/snapshots", headers=bearer(settings, "tech")).json()
    assert listed["count"] == 2 and [s["cmd_id"] for s in listed["data"]] == [snap_ids[2], snap_ids[1]]
    assert {s["camera_id"] for s in listed["data"]} == {"cam-1"}
    newest = client.get(latest + "?camera_id=cam-1", headers=bearer(settings, "tech"))
    assert newest.content == jpeg_c
    one = client.get(f"/api/v1/devices/{device_id}/snapshots/{snap_ids[1]}", headers=bearer(settings, "tech"))
    assert one.content == JPEG_B
    pruned = client.get(f"/api/v1/devices/{device_id}/snapshots/{snap_ids[0]}", headers=bearer(settings, "tech"))
    assert pruned.status_code == 404
    evidence_root = settings.evidence_dir
    sha_a = hashlib.sha256(JPEG_A).hexdigest()
    assert not (evidence_root / sha_a[:2] / sha_a).exists()  # its bytes were deleted after the commit
