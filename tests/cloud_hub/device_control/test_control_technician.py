"""The device-control API for the technician's web app: camera configs checked against the shared camera-rules
schema (422 with JSON paths, nothing stored), validate-only, the schema itself, command results as objects, pages,
and the `probe` command's snapshot. Real database, the hub's auth, publishing recorded."""

from __future__ import annotations

import copy
import hashlib
import json

import psycopg
from control_testkit import RecordingIngest, basic, bearer, provision
from fastapi.testclient import TestClient

from cityops.contract.messages import DeviceConfig, dump
from cloud_hub.core.config import HubSettings
from edge_agent.remote.device_config import plan_remote_config

POLYGON = [[0.1234, 0.2345], [0.8765, 0.2345], [0.8765, 0.3857], [0.1234, 0.3857]]
GAUGE = {"polygon": [[0.5, 0.1], [0.6, 0.1], [0.6, 0.9]], "marks": [{"y": 0.2, "cm": 50}, {"y": 0.8, "cm": 0}]}
CAMERA = {
    "camera_id": "cam-1",
    "version": 3,
    "zones": [{"id": "zone-a", "name": "No parking", "polygon": POLYGON}],
    "analytics": [
        {"type": "parking", "zones": ["zone-a"], "dwell_s": 120},
        {"type": "waterlogging", "zones": ["zone-a"], "gauge": GAUGE},
    ],
}
JPEG = b"\xff\xd8\xff\xe0" + b"probe-frame" * 50


def test_camera_configs_are_checked_against_the_schema_before_anything_is_stored(
    client: TestClient, settings: HubSettings, ingest: RecordingIngest
) -> None:
    device_id, _ = provision(client, settings)
    url = f"/api/v1/devices/{device_id}/config"
    tech = bearer(settings, "tech")
    bad = copy.deepcopy(CAMERA)
    bad["zones"][0]["polygon"][2] = [1.5, 0.3857]
    bad["analytics"][0]["dwell_s"] = "long"
    bad["analytics"][1]["gauge"]["marks"][1] = {"y": 0.8}
    bad["analytics"].append({"type": "spaceship", "zones": ["zone-a"]})
    bad["colour"] = "red"
    for attempt in (client.put(url, json={"cameras": [bad]}, headers=tech),
                    client.post(f"{url}/validate", json={"cameras": [bad]}, headers=tech)):  # fmt: skip
        assert attempt.status_code == 422, attempt.text
        errors = {e["path"]: e for e in attempt.json()["detail"]}
        assert set(errors) == {
            "$.cameras[0]",
            "$.cameras[0].zones[0].polygon[2][0]",
            "$.cameras[0].analytics[0].dwell_s",
            "$.cameras[0].analytics[1].gauge.marks[1].cm",
            "$.cameras[0].analytics[2]",
        }
        assert errors["$.cameras[0].zones[0].polygon[2][0]"]["loc"] == [
            "body",
            "cameras",
            0,
            "zones",
            0,
            "polygon",
            2,
            0,
        ]
        assert "1.5 is greater than the maximum of 1" in errors["$.cameras[0].zones[0].polygon[2][0]"]["msg"]
        assert "'colour' was unexpected" in errors["$.cameras[0]"]["msg"]
        assert errors["$.cameras[0].analytics[1].gauge.marks[1].cm"]["type"] == "schema.required"
        assert "kitchen, parking, road_occupation, waterlogging" in errors["$.cameras[0].analytics[2]"]["msg"]
    assert ingest.configs == []
    assert client.get(url, headers=tech).json()["desired"] is None  # nothing stored

    valid = client.post(f"{url}/validate", json={"cameras": [CAMERA, {**CAMERA, "camera_id": "cam-2"}]}, headers=tech)
    assert valid.status_code == 200, valid.text
    assert valid.json() == {"device_id": device_id, "valid": True, "cameras": ["cam-1", "cam-2"],
                            "schema_id": "urn:cityops:schema:camera-rules:1"}  # fmt: skip
    assert ingest.configs == [] and client.get(url, headers=tech).json()["desired"] is None
    add = {**CAMERA, "camera_id": "cam-new", "source": "rtsp://192.0.2.7/main", "name": "Gate", "fps": 2}
    assert client.post(f"{url}/validate", json={"cameras": [add]}, headers=tech).status_code == 200
    no_source = client.post(f"{url}/validate", json={"cameras": [{**CAMERA, "fps": 2}]}, headers=tech)
    assert no_source.status_code == 422 and "'source' is a dependency of 'fps'" in no_source.text
    relative = client.post(f"{url}/validate", json={"cameras": [{**add, "source": "gate.mp4"}]}, headers=tech)
    assert relative.status_code == 422 and relative.json()["detail"][0]["path"] == "$.cameras[0].source"

    assert client.post(f"{url}/validate", json={"cameras": []}, headers=bearer(settings, "boss")).status_code == 403
    unknown = client.post("/api/v1/devices/edge-none-9/config/validate", json={"cameras": []}, headers=tech)
    assert unknown.status_code == 404


def test_zone_coordinates_keep_their_decimals_from_hub_to_edge(
    client: TestClient, settings: HubSettings, ingest: RecordingIngest, database_url: str
) -> None:
    device_id, _ = provision(client, settings)
    put = client.put(
        f"/api/v1/devices/{device_id}/config", json={"cameras": [CAMERA]}, headers=bearer(settings, "tech")
    )
    assert put.status_code == 200, put.text
    assert put.json()["desired"]["config"]["cameras"][0]["zones"][0]["polygon"] == POLYGON
    ((_, published),) = ingest.configs
    wire = dump(DeviceConfig.model_validate(published))  # the bytes IngestService.publish_config sends
    plan = plan_remote_config(wire, {"cam-1": "rtsp://192.0.2.1/main"}, ("car", "truck", "bus", "motorcycle"))
    assert [list(p) for p in plan.rules["cam-1"].zones[0].polygon] == POLYGON
    with psycopg.connect(database_url) as conn:  # and as stored (jsonb keeps the decimal text)
        stored = conn.execute(
            "SELECT config #>> '{cameras,0,zones,0,polygon,0,0}' FROM device_configs WHERE device_id = %s", (device_id,)
        ).fetchone()[0]
    assert stored == "0.1234"


def test_camera_rules_schema_is_served_to_technicians_and_admins(client: TestClient, settings: HubSettings) -> None:
    schema = client.get("/api/v1/schemas/camera-rules", headers=bearer(settings, "tech"))
    assert schema.status_code == 200 and schema.json()["$id"] == "urn:cityops:schema:camera-rules:1"
    assert schema.json()["properties"]["zones"]["items"]["$ref"] == "#/$defs/ZoneConfig"
    assert client.get("/api/v1/schemas/camera-rules", headers=bearer(settings, "adm")).status_code == 200
    for user in ("boss", "off"):
        assert client.get("/api/v1/schemas/camera-rules", headers=bearer(settings, user)).status_code == 403


def test_command_results_are_parsed_and_lists_are_pages(
    client: TestClient, settings: HubSettings, database_url: str, ingest: RecordingIngest
) -> None:
    device_id, secret = provision(client, settings)
    url = f"/api/v1/devices/{device_id}/commands"
    tech = bearer(settings, "tech")
    args = {"source": "rtsp://192.0.2.7/main", "camera_id": "cam-new"}
    probe = client.post(url, json={"name": "probe", "args": args}, headers=tech).json()["cmd_id"]
    ping = client.post(url, json={"name": "ping"}, headers=tech).json()["cmd_id"]
    detail = {"width": 1280, "height": 720, "fps": 25.0, "codec": "h264", "snapshot": {"sha256": "ab"}}
    with psycopg.connect(database_url) as conn:
        for cmd_id, text in ((probe, json.dumps(detail)), (ping, "pong")):
            conn.execute(
                "INSERT INTO cmd_results (device_id, cmd_id, ok, detail, payload) VALUES (%s, %s, true, %s, '{}')",
                (device_id, cmd_id, text),
            )
    one = client.get(f"{url}/{probe}", headers=tech).json()
    assert one["result"] == detail and one["detail"] == json.dumps(detail)
    page = client.get(url, params={"limit": 1}, headers=bearer(settings, "boss")).json()
    assert page["count"] == 2 and [(c["cmd_id"], c["result"], c["detail"]) for c in page["data"]] == [
        (ping, None, "pong")
    ]
    assert client.get(url, params={"offset": 1}, headers=tech).json()["data"][0]["cmd_id"] == probe
    assert client.get(url, headers=bearer(settings, "off")).status_code == 403

    # The probe's frame is stored like a snapshot (for drawing zones before the camera is configured).
    headers = {**basic(device_id, secret), "Content-Type": "image/jpeg",
               "X-Content-SHA256": hashlib.sha256(JPEG).hexdigest()}  # fmt: skip
    stored = client.put(f"/api/v1/devices/{device_id}/snapshots/{probe}", content=JPEG, headers=headers)
    assert stored.status_code == 201 and stored.json()["camera_id"] == "cam-new"  # from the probe's args
    picture = client.get(f"/api/v1/devices/{device_id}/snapshots/latest?camera_id=cam-new", headers=tech)
    assert picture.content == JPEG and picture.headers["x-snapshot-cmd-id"] == probe
    assert client.put(f"/api/v1/devices/{device_id}/snapshots/{ping}", content=JPEG, headers=headers).status_code == 404
    snapshots = client.get(f"/api/v1/devices/{device_id}/snapshots", headers=tech).json()
    assert snapshots["count"] == 1 and snapshots["data"][0]["cmd_id"] == probe
