"""The edge agent survives broker loss, hub loss, its own kill -9 and the loss of a camera stream (issue 3).

All real: a stack of its own (`cityops stack up`, broker, database, hub) whose components this module stops and
starts, and one edge agent process on the still street picture, where parked cars make events flow steadily
(short dwell and update interval). A second camera plays a short video file without looping, so every time it ends
the agent reopens the file; renaming the file away is a camera that disappears.

After every outage the events the agent held must be acked and leave its outbox, and the hub must hold each of them
exactly once, with its picture, seq contiguous from 1 through them; started incident keys never repeat.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import psycopg
import pytest
import yaml
from e2e_support import REPO, SHARED, Api, cityops, json_of, stack_env, wait_for

from cloud_hub.stack import hub_process, mosquitto
from cloud_hub.stack.paths import StackPaths
from tests.shared_assets import require_shared

pytestmark = pytest.mark.e2e

DATABASE = "timescaledb" if os.geteuid() == 0 else "postgres"  # one kind is enough here; TimescaleDB needs root
STILL = SHARED / "media" / "mmdet_demo.jpg"
MODEL = SHARED / "models" / "yolox_nano.onnx"
STILL_CAMERA, VIDEO_CAMERA = "cam-res-still", "cam-res-video"
DEVICE_ID = "edge-resilience"


class ResilienceStack:
    """A stack of this module only: it stops and starts components, which would break other modules' tests."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.env = stack_env(state_dir, DATABASE)
        self.run_dir = StackPaths.create(state_dir, state_dir / "cache").run_dir
        self.info: dict[str, Any] = {}
        self.api: Api | None = None

    def start(self) -> None:
        self.info = self.up()
        self.api = Api(self.info["hub_url"], self.info["admin_user"], self.info["admin_password"])

    def up(self) -> dict[str, Any]:
        """Start whatever is not running (after a stop: just that component), as an operator would."""
        return json_of(cityops(["stack", "up", "--json"], self.env, timeout=180))

    def stop_broker(self) -> None:
        assert mosquitto.stop_broker(self.run_dir), "the stack's broker was not running"

    def stop_hub(self) -> None:
        assert hub_process.stop_hub(self.run_dir), "the stack's hub was not running"

    def provision(self, device_id: str) -> dict[str, Any]:
        return json_of(cityops(["device", "provision", "--id", device_id, "--kind", "edge", "--json"], self.env, 60))

    def hub_seqs(self, device_id: str) -> list[int]:
        with psycopg.connect(self.info["database_url"]) as conn:
            rows = conn.execute("SELECT seq FROM events WHERE device_id = %s ORDER BY seq", (device_id,)).fetchall()
        return [r[0] for r in rows]

    def start_keys(self, device_id: str, after_seq: int = 0) -> set[str]:
        """Incident keys of the stored `start` events (one per tracked vehicle and zone)."""
        with psycopg.connect(self.info["database_url"]) as conn:
            rows = conn.execute(
                "SELECT incident_key FROM events WHERE device_id = %s AND phase = 'start' AND seq > %s",
                (device_id, after_seq),
            ).fetchall()
        return {r[0] for r in rows}

    def camera_health(self, device_id: str, camera_id: str) -> dict[str, Any] | None:
        assert self.api is not None, "stack not started"
        devices = {d["device_id"]: d for d in self.api.get("/api/v1/devices")["data"]}
        health = (devices.get(device_id) or {}).get("health") or {}
        return next((c for c in health.get("cameras", []) if c.get("camera_id") == camera_id), None)

    def close(self) -> None:
        """Stop everything, also after a failed start (`stack down` stops what this state dir started)."""
        if self.api is not None:
            self.api.close()
        down = cityops(["stack", "down", "--purge"], self.env, timeout=120)
        assert down.returncode == 0, down.stderr


class Outbox:
    """Read-only look into the agent's SQLite outbox (WAL: readable while the agent writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(sql).fetchall()

    def last_seq(self) -> int:
        rows = self._query("SELECT value FROM meta WHERE key = 'last_seq'")
        return int(rows[0][0]) if rows else 0

    def pending(self) -> dict[int, str]:
        """seq -> event_id of every event not acked yet."""
        return dict(self._query("SELECT seq, event_id FROM events ORDER BY seq"))

    def pending_start_keys(self) -> set[str]:
        events = [json.loads(r[0]) for r in self._query("SELECT payload FROM events")]
        return {e["incident_key"] for e in events if e.get("phase") == "start"}

    def held_through(self, seq: int) -> bool:
        """Whether an event with seq <= `seq` is still waiting for the hub's ack."""
        return any(s <= seq for s in self.pending())


class EdgeProcess:
    """`cityops edge run` as its own process, restartable with the same config and data dir."""

    def __init__(self, config_path: Path, env: dict[str, str], log_path: Path) -> None:
        self.config_path, self.env, self.log_path = config_path, env, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cityops.cli", "edge", "run", "--config", str(self.config_path)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


class Agent:
    def __init__(self, process: EdgeProcess, outbox: Outbox, video: Path) -> None:
        self.process, self.outbox, self.video = process, outbox, video


def _short_video(path: Path, seconds: float = 3.0, fps: int = 4) -> Path:
    """The street picture as a short MJPEG clip: with `loop: false` the agent reopens the file at every end."""
    image = cv2.imread(str(STILL), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {STILL}"
    height, width = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write an MJPG video"
    for _ in range(int(seconds * fps)):
        writer.write(image)
    writer.release()
    return path


def _fast_rules(path: Path) -> Path:
    """The demo street rules with a short dwell and update interval, so the parked cars give events steadily."""
    rules = yaml.safe_load((REPO / "rules" / "edge" / "demo-street.yaml").read_text())
    for analytic in rules["analytics"]:
        analytic.update({"dwell_s": 1, "update_every_s": 3})
    path.write_text(yaml.safe_dump(rules))
    return path


def _edge_config(stack: ResilienceStack, credentials: dict[str, Any], work: Path, video: Path) -> Path:
    location = stack.info["demo_location"] or {"lon": 0.0, "lat": 0.0}
    rules = _fast_rules(work / "rules.yaml")
    config = {
        "device_id": credentials["device_id"],
        "mqtt_url": f"mqtt://{credentials['username']}:{credentials['password']}@"
        f"{credentials['mqtt_host']}:{credentials['mqtt_port']}",
        "hub_url": credentials["hub_url"],
        "data_dir": str(work / "edge-data"),
        "models_dir": str(SHARED / "models"),
        "model": "yolox_nano",
        "health_interval_s": 1,
        # Short retransmit backoff: after a hub outage the held events go again within seconds (defaults: 10..300 s).
        "outbox": {"retransmit_after_s": 1, "max_backoff_s": 3},
        "cameras": [
            {"camera_id": STILL_CAMERA, "source": str(STILL), "fps": 2, "location": location, "rules": str(rules)},
            {
                "camera_id": VIDEO_CAMERA,
                "source": str(video),
                "loop": False,
                "fps": 1,
                "location": location,
                "rules": str(rules),
            },
        ],
    }
    path = work / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResilienceStack]:
    require_shared(MODEL, STILL)
    if DATABASE == "timescaledb" and os.geteuid() != 0:
        pytest.skip("TimescaleDB runs in a Debian 13 chroot, which needs root")
    resilience = ResilienceStack(tmp_path_factory.mktemp("stack-resilience"))
    try:
        resilience.start()
        yield resilience
    finally:
        resilience.close()


@pytest.fixture(scope="module")
def agent(own_stack: ResilienceStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """One agent for the whole module (tests run in file order and each leaves it running and connected)."""
    work = tmp_path_factory.mktemp("edge-resilience")
    video = _short_video(work / "camera.avi")
    config_path = _edge_config(own_stack, own_stack.provision(DEVICE_ID), work, video)
    process = EdgeProcess(config_path, own_stack.env, work / "edge.log")
    process.start()
    running = Agent(process, Outbox(work / "edge-data" / "outbox.sqlite"), video)
    try:
        wait_for("the first events at the hub", lambda: len(own_stack.hub_seqs(DEVICE_ID)) >= 2, timeout_s=90)
        yield running
    finally:
        code = process.stop()
        assert code == 0, f"the agent did not stop cleanly (exit {code}):\n{process.log_tail()}"


def _assert_hub_consistent(stack: ResilienceStack, through_seq: int) -> None:
    """Every event up to `through_seq` stored, contiguous from 1; no seq and no event stored twice. Later events
    may still be on their way, and out of order (one waiting for its picture lets the next go first)."""
    seqs = stack.hub_seqs(DEVICE_ID)
    repeated = sorted({s for s in seqs if seqs.count(s) > 1})
    assert repeated == [], f"seqs stored more than once: {repeated}"
    missing = sorted(set(range(1, through_seq + 1)) - set(seqs))
    assert missing == [], f"seqs missing at the hub after the outbox let them go: {missing}"
    with psycopg.connect(stack.info["database_url"]) as conn:
        count, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events WHERE device_id = %s", (DEVICE_ID,)
        ).fetchone()
        repeated = conn.execute(
            "SELECT incident_key, count(*) FROM events WHERE device_id = %s AND phase = 'start'"
            " GROUP BY incident_key HAVING count(*) > 1",
            (DEVICE_ID,),
        ).fetchall()
        # An event goes out only after its picture is on the hub, so none may be missing after any outage.
        no_picture = conn.execute(
            "SELECT e.seq FROM events e LEFT JOIN evidence v ON v.event_id = e.event_id"
            " WHERE e.device_id = %s AND e.seq <= %s AND e.payload ? 'evidence'"
            " AND (v.event_id IS NULL OR v.sha256 <> e.payload -> 'evidence' ->> 'sha256')",
            (DEVICE_ID, through_seq),
        ).fetchall()
        with_picture = conn.execute(
            "SELECT count(*) FROM events WHERE device_id = %s AND payload ? 'evidence'", (DEVICE_ID,)
        ).fetchone()[0]
    assert count == distinct, "an event was stored more than once"
    assert with_picture > 0, "no event carried a picture: the evidence path was not exercised"
    assert no_picture == [], f"events stored without their picture (or with another one): {no_picture}"
    assert repeated == [], f"incident keys started more than once: {repeated}"
    return seqs


def _wait_drained(stack: ResilienceStack, agent: Agent, through_seq: int, timeout_s: float = 180) -> None:
    """The hub acked everything up to `through_seq`: it left the outbox and is stored. The deadline is for
    liveness only: on a loaded 2-core machine a restarted hub first works through the retransmissions queued for
    it while it was away."""
    try:
        wait_for(
            f"events through seq {through_seq} acked and gone from the outbox",
            lambda: not agent.outbox.held_through(through_seq) and len(stack.hub_seqs(DEVICE_ID)) >= through_seq,
            timeout_s=timeout_s,
        )
    except AssertionError as exc:
        held = sorted(seq for seq in agent.outbox.pending() if seq <= through_seq)
        stored = stack.hub_seqs(DEVICE_ID)
        raise AssertionError(
            f"{exc}; still held through seq {through_seq}: {held[:20]} ({len(held)}); stored at the hub:"
            f" {len(stored)}, missing {sorted(set(range(1, through_seq + 1)) - set(stored))[:20]};"
            f" agent log:\n{agent.process.log_tail()}"
        ) from None
    _assert_hub_consistent(stack, through_seq)


def _wait_more_events(agent: Agent, than: int, how_many: int, timeout_s: float = 40) -> int:
    """Wait until the agent has recorded `how_many` events after seq `than`; returns its last seq then."""

    def probe() -> int | None:
        last = agent.outbox.last_seq()
        return last if last >= than + how_many else None

    return wait_for(f"{how_many} more events in the outbox after seq {than}", probe, timeout_s, interval_s=0.3)


def _wait_camera(stack: ResilienceStack, camera_id: str, what: str, accept: Any, timeout_s: float) -> dict[str, Any]:
    """Poll the hub's device list until the camera's last reported health satisfies `accept`."""

    seen: list[dict[str, Any] | None] = [None]

    def probe() -> dict[str, Any] | None:
        camera = seen[0] = stack.camera_health(DEVICE_ID, camera_id)
        return camera if camera is not None and accept(camera) else None

    try:
        return wait_for(what, probe, timeout_s, interval_s=0.3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last reported health of {camera_id}: {seen[0]}") from None


def test_broker_loss_events_held_then_retransmitted_once(own_stack: ResilienceStack, agent: Agent) -> None:
    before = agent.outbox.last_seq()
    own_stack.stop_broker()
    stopped_at = time.monotonic()
    try:
        # The agent goes on detecting and recording while it cannot reach anyone.
        during = _wait_more_events(agent, before, how_many=3)
        time.sleep(max(0.0, 10 - (time.monotonic() - stopped_at)))  # ~10 s: through paho's reconnect backoff
        assert agent.process.alive(), agent.process.log_tail()
        held = agent.outbox.pending()
        assert any(seq > before for seq in held), f"nothing held in the outbox during the outage: {held}"
    finally:
        own_stack.up()
    _wait_drained(own_stack, agent, max(during, agent.outbox.last_seq()))


def test_kill9_and_restart_continue_seq_and_lose_nothing(own_stack: ResilienceStack, agent: Agent) -> None:
    # Killed while the broker is away, so the outbox surely holds events nobody has acked yet.
    own_stack.stop_broker()
    try:
        _wait_more_events(agent, agent.outbox.last_seq(), how_many=3)
        agent.process.kill9()
        last_before = agent.outbox.last_seq()
        committed = agent.outbox.pending()
        assert committed, "the outbox held nothing at the kill: the test would prove nothing"
        keys_before = own_stack.start_keys(DEVICE_ID) | agent.outbox.pending_start_keys()
        agent.process.start()  # same config and data dir, and the broker still away
        after = _wait_more_events(agent, last_before, how_many=3, timeout_s=60)
    finally:
        own_stack.up()
    _wait_drained(own_stack, agent, after)

    with psycopg.connect(own_stack.info["database_url"]) as conn:
        stored = {
            r[0]: str(r[1]) for r in conn.execute("SELECT seq, event_id FROM events WHERE device_id = %s", (DEVICE_ID,))
        }
    lost = {seq: eid for seq, eid in committed.items() if stored.get(seq) != eid}
    assert lost == {}, f"events committed to the outbox before the kill are missing or different at the hub: {lost}"
    new_keys = own_stack.start_keys(DEVICE_ID, after_seq=last_before)
    assert new_keys, "no incident started after the restart"
    assert not new_keys & keys_before, f"track-based incident keys repeated after the restart: {new_keys & keys_before}"


def test_hub_down_outbox_grows_then_drains(own_stack: ResilienceStack, agent: Agent) -> None:
    own_stack.stop_hub()
    try:
        depth_at_stop = len(agent.outbox.pending())
        last_at_stop = agent.outbox.last_seq()
        during = _wait_more_events(agent, last_at_stop, how_many=4)
        held = agent.outbox.pending()
        assert len(held) > depth_at_stop, (
            f"outbox depth did not grow while the hub was down ({depth_at_stop} -> {held})"
        )
        assert max(held) >= during
    finally:
        own_stack.up()
    _wait_drained(own_stack, agent, during)


def test_camera_stream_lost_then_recovered(own_stack: ResilienceStack, agent: Agent, tmp_path: Path) -> None:
    _wait_camera(own_stack, VIDEO_CAMERA, "the video camera reported ok", lambda c: c["status"] == "ok", 30)
    away = tmp_path / "camera-gone.avi"
    agent.video.rename(away)
    try:
        # Not the ordinary end of the clip ("source ended or failed"): reopening the source itself fails.
        _wait_camera(
            own_stack,
            VIDEO_CAMERA,
            "the lost camera reported as reconnecting",
            lambda c: c["status"] in ("reconnecting", "offline") and "no such file" in c.get("detail", ""),
            30,
        )
        still = own_stack.camera_health(DEVICE_ID, STILL_CAMERA)
        assert still is not None and still["status"] == "ok", f"the other camera suffered too: {still}"
        assert agent.process.alive(), agent.process.log_tail()
    finally:
        away.rename(agent.video)
    _wait_camera(
        own_stack,
        VIDEO_CAMERA,
        "the camera back to ok, frames flowing",
        lambda c: c["status"] == "ok" and c["fps"] > 0,
        40,
    )
    assert agent.process.alive(), agent.process.log_tail()
