"""Helpers for the end-to-end tests: the system driven only through its command line, its API and the wire."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cityops(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the `cityops` command line as a user would (a fresh interpreter)."""
    return subprocess.run(
        [sys.executable, "-m", "cityops.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
    )


def stack_env(state_dir: Path, database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(
        {
            "CITYOPS_STATE_DIR": str(state_dir),
            "CITYOPS_STACK_DB": database,
            "CITYOPS_STACK_MQTT_PORT": str(free_port()),
            "CITYOPS_STACK_PG_PORT": str(free_port()),
            "CITYOPS_HTTP_PORT": str(free_port()),
        }
    )
    return env


def json_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return json.loads(result.stdout)


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float, interval_s: float = 0.5) -> T:
    """Poll until `probe` returns something truthy; the failure message says what never happened."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")


class Api:
    """A logged-in API client."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=15)
        response = self.client.post("/api/v1/auth/token", data={"username": username, "password": password})
        response.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.client.close()


def utc_ts(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


def event_dict(seq: int, **overrides: Any) -> dict[str, Any]:
    event = {
        "event_id": str(uuid.uuid4()),
        "seq": seq,
        "ts": utc_ts(),
        "kind": "illegal_parking",
        "phase": "start",
        "incident_key": f"cam-p/zone-a/track-{seq}",
        "camera_id": "cam-p",
    }
    event.update(overrides)
    return event


def event_batch(device_id: str, events: list[dict[str, Any]], schema: str = "cityops.events/1") -> bytes:
    return json.dumps({"schema": schema, "device_id": device_id, "events": events}).encode()


class MqttDevice:
    """A device speaking MQTT 5 with its provisioned credentials; collects its acks."""

    def __init__(self, credentials: dict[str, Any]) -> None:
        self.device_id = credentials["device_id"]
        self.acks: queue.Queue[int] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.device_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(credentials["username"], credentials["password"])
        self.client.on_message = lambda _c, _u, msg: self.acks.put(json.loads(msg.payload)["acked_seq"])
        self.client.connect(credentials["mqtt_host"], int(credentials["mqtt_port"]))
        self.client.loop_start()
        self.client.subscribe(f"cityops/v1/dev/{self.device_id}/ack", qos=1)

    def publish(self, suffix: str, payload: bytes, device_id: str | None = None) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(f"cityops/v1/dev/{device_id or self.device_id}/{suffix}", payload, qos=1)
        info.wait_for_publish(timeout=10)
        return info

    def highest_ack(self) -> int:
        best = -1
        while not self.acks.empty():
            best = max(best, self.acks.get())
        return best

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
