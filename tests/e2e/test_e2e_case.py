"""End to end, a case handled the way a city handles it (issue 10): a parked car published over MQTT by a provisioned
device becomes an incident and a work order dispatched to the grid's officer; officer1, through the HTTP API, accepts
it, goes on site and resolves it with a photo; commander1 verifies and closes it. At the end the order is closed,
its incident is closed, and the audit trail holds every transition with its actor and role, the photo on the
resolving step. Both database kinds."""

from __future__ import annotations

import io
from typing import Any

import pytest
from e2e_support import Api, MqttDevice, event_batch, event_dict, wait_for
from PIL import Image

from cloud_hub.seed.demo import DEMO_LOCATION, DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "gray").save(buf, "JPEG")
    return buf.getvalue()


def _move(api: Api, order_id: int, to: str, **body: Any) -> dict[str, Any]:
    response = api.client.post(f"/api/v1/work-orders/{order_id}/transitions", json={"to": to, **body})
    assert response.status_code == 200, f"{to}: {response.status_code} {response.text}"
    return response.json()


def test_a_detection_is_handled_to_a_verified_closed_case(stack: Any) -> None:
    info = stack.info
    device_id = f"edge-case-{stack.database}"
    key = f"cam-case/zone-a/{stack.database}"
    device = MqttDevice(stack.provision(device_id, DEMO_LOCATION["lon"], DEMO_LOCATION["lat"]))
    admin = Api(info["hub_url"], info["admin_user"], info["admin_password"])
    officer = Api(info["hub_url"], "officer1", DEMO_PASSWORD)
    commander = Api(info["hub_url"], "commander1", DEMO_PASSWORD)
    try:
        device.publish("events", event_batch(device_id, [event_dict(1, incident_key=key, camera_id="cam-case")]))
        wait_for("the hub's ack", lambda: device.highest_ack() >= 1 or None, timeout_s=60)
        incident = wait_for(
            "an incident with its work order",
            lambda: [i for i in admin.get("/api/v1/incidents", device_id=device_id)["data"] if i["work_order"]],
            timeout_s=60,
        )[0]
        assert (incident["incident_key"], incident["status"], incident["grid_id"]) == (key, "open", "nj-gulou-01")
        order_id = incident["work_order"]["id"]
        assert (incident["work_order"]["status"], incident["work_order"]["assignee"]) == ("dispatched", "officer1")

        # officer1 on the phone: accept, on site, a photo of the place, resolved with it.
        assert order_id in {o["id"] for o in officer.get("/api/v1/work-orders")["data"]}
        _move(officer, order_id, "accepted")
        _move(officer, order_id, "on_site", note="at the north gate")
        uploaded = officer.client.post(
            f"/api/v1/work-orders/{order_id}/photos",
            content=_photo(),
            headers={"Content-Type": "image/jpeg"},
            params={"note": "car gone, lane clear"},
        )
        assert uploaded.status_code == 201, uploaded.text
        photo_id = uploaded.json()["photo_id"]
        _move(officer, order_id, "resolved", note="driver moved the car", photos=[photo_id])
        refused = officer.client.post(f"/api/v1/work-orders/{order_id}/transitions", json={"to": "verified"})
        assert refused.status_code == 403  # the officer who resolved it may not verify it

        # commander1 at the command centre: verified, closed.
        _move(commander, order_id, "verified", note="checked on camera")
        closed = _move(commander, order_id, "closed")
        assert closed["status"] == "closed"

        order = admin.get(f"/api/v1/work-orders/{order_id}")
        trail = [(t["from_status"], t["to_status"], t["actor"], t["role"]) for t in order["transitions"]]
        assert trail == [
            (None, "reported", "system", "system"),
            ("reported", "registered", "system", "system"),
            ("registered", "dispatched", "system", "system"),
            ("dispatched", "accepted", "officer1", "officer"),
            ("accepted", "on_site", "officer1", "officer"),
            ("on_site", "resolved", "officer1", "officer"),
            ("resolved", "verified", "commander1", "commander"),
            ("verified", "closed", "commander1", "commander"),
        ]
        resolving = order["transitions"][5]
        assert resolving["note"] == "driver moved the car"
        assert [p["photo_id"] for p in resolving["photos"]] == [photo_id]
        assert order["transitions"][4]["note"] == "at the north gate"
        assert (order["status"], order["handled_by"], order["assignee"]) == ("closed", "officer1", "officer1")
        assert order["allowed"] == []  # final

        incident = admin.get(f"/api/v1/incidents/{incident['id']}")
        assert incident["status"] == "closed" and incident["ended_at"] is not None
        assert incident["work_order"]["status"] == "closed"
    finally:
        for api in (admin, officer, commander):
            api.close()
        device.close()
