"""The live channel across processes, from the wire: an event published over MQTT is stored by the stack's hub (its
ingest), and the work order reaches an officer's stream on that hub AND on a second, API-only hub replica that
never saw the MQTT message (PostgreSQL NOTIFY after commit, not an in-process list). Both database kinds."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import httpx
import pytest
from e2e_support import REPO, MqttDevice, event_batch, event_dict

from cloud_hub.seed.demo import DEMO_LOCATION, DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def replica(stack: Any) -> Iterator[str]:
    """A second hub process on the same database: API and live relay only, no MQTT consumer, no scheduler."""
    secrets = json.loads((Path(stack.info["state_dir"]) / "secrets.json").read_text())
    port = _free_port()
    env = {
        **stack.env,
        "CITYOPS_DATABASE_URL": stack.info["database_url"],
        "CITYOPS_JWT_SECRET": secrets["jwt_secret"],
        "CITYOPS_ADMIN_PASSWORD": secrets["admin_password"],
        "CITYOPS_SCHEDULER": "false",
        "CITYOPS_EVIDENCE_DIR": str(stack.state_dir / "replica-evidence"),
    }
    log = (stack.state_dir / "replica.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityops.cli", "hub", "run", "--no-ingest", "--port", str(port)],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (stack.state_dir / "replica.log").read_text()
        time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def _stream(url: str, username: str, found: Queue[dict[str, Any]], opened: threading.Event) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the hub going away at the end of the module ends the stream
        _read(url, username, found, opened)


def _read(url: str, username: str, found: Queue[dict[str, Any]], opened: threading.Event) -> None:
    token = httpx.post(f"{url}/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client,
        client.stream("GET", f"{url}/api/v1/live", headers=headers, params={"topics": "work_order"}) as response,
    ):
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                if event == "hello":
                    opened.set()
            elif line.startswith("data:") and event == "work_order":
                found.put(json.loads(line[5:]))


def _listen(url: str, username: str) -> Queue[dict[str, Any]]:
    found: Queue[dict[str, Any]] = Queue()
    opened = threading.Event()
    threading.Thread(target=_stream, args=(url, username, found, opened), daemon=True).start()
    assert opened.wait(30), f"{username}'s live stream on {url} did not open"
    return found


def _next_created(found: Queue[dict[str, Any]], key_marker: int, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            message = found.get(timeout=max(0.1, deadline - time.monotonic()))
        except Empty:
            raise AssertionError(f"no work order for track {key_marker} within {timeout_s} s") from None
        if message["op"] == "created":
            return message


def test_a_work_order_reaches_officers_on_every_replica(stack: Any, replica: str) -> None:
    on_ingesting_hub = _listen(stack.info["hub_url"], "officer1")
    on_replica = _listen(replica, "officer1")
    credentials = stack.provision("edge-live-01", DEMO_LOCATION["lon"], DEMO_LOCATION["lat"])
    device = MqttDevice(credentials)
    try:
        device.publish(
            "events",
            event_batch(device.device_id, [event_dict(1, incident_key="cam-live/zone-a/track-1")]),
        )
        here, there = _next_created(on_ingesting_hub, 1), _next_created(on_replica, 1)
    finally:
        device.close()
    assert here["id"] == there["id"], "both replicas deliver the same message at the same position"
    order = there["data"]["work_order"]
    assert order["assignee"] == "officer1" and order["status"] == "dispatched" and order["grid_id"] == "nj-gulou-01"
    assert [step["to"] for step in there["data"]["steps"]] == ["reported", "registered", "dispatched"]
