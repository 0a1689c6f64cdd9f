"""systemd notify over a real unix datagram socket: READY and pings from the pipeline loops, no pings from a hung
loop; and the agent's size-rotated log file."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from cityops.logs import add_rotating_file, rotation_settings
from edge_agent.pipeline import PipelineWorker
from edge_agent.watchdog import PipelineWatchdog, sd_notify, watchdog_interval_s

WAIT_S = 10.0  # upper bound for a message to arrive, never a timing the test judges


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, dict[str, str]]]:
    folder = Path(tempfile.mkdtemp(prefix="sdn-"))  # short: unix socket paths are limited to ~100 bytes
    path = folder / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(WAIT_S)
    yield sock, {"NOTIFY_SOCKET": str(path)}
    sock.close()
    path.unlink(missing_ok=True)
    folder.rmdir()


def drain(sock: socket.socket) -> list[str]:
    sock.setblocking(False)
    out = []
    try:
        while True:
            out.append(sock.recv(256).decode())
    except BlockingIOError:
        pass
    sock.settimeout(WAIT_S)
    return out


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pipeline:
    """Stands in for CameraPipeline: `process` blocks while `hang` is set."""

    def __init__(self, camera_id: str) -> None:
        self.camera = SimpleNamespace(camera_id=camera_id)
        self.hang = threading.Event()
        self.inside = threading.Event()
        self.release = threading.Event()

    def idle(self, _now: float) -> None:
        pass

    def process(self, _frame: object) -> None:
        if self.hang.is_set():
            self.inside.set()
            self.release.wait()


def frames(_timeout: float) -> object:
    return SimpleNamespace(index=0)


def test_sd_notify_sends_to_the_socket_and_is_quiet_without_one(notify_socket) -> None:
    sock, env = notify_socket
    assert sd_notify("READY=1", env)
    assert sock.recv(256) == b"READY=1"
    assert not sd_notify("READY=1", {})
    assert watchdog_interval_s({"WATCHDOG_USEC": "120000000"}) == 120.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "1", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_interval_s({}) is None


def test_a_passing_loop_pings_and_a_hung_one_stops_the_pings(notify_socket) -> None:
    sock, env = notify_socket
    clock = FakeClock()
    dog = PipelineWatchdog(10.0, notify=lambda m: sd_notify(m, env), clock=clock)
    good, stuck = Pipeline("cam-good"), Pipeline("cam-stuck")
    workers = [PipelineWorker(p, frames, on_pass=dog.alive) for p in (good, stuck)]
    for w in workers:
        w.start()
    try:
        assert sock.recv(256) == b"WATCHDOG=1"  # both loops pass: pings go out

        stuck.hang.set()
        assert stuck.inside.wait(WAIT_S)  # cam-stuck is now inside a frame that never ends
        clock.now += 60  # far past the stale limit (5 s) and the ping period
        passes = threading.Event()
        workers[0].on_pass = lambda name: (dog.alive(name), passes.set())
        drain(sock)
        for _ in range(3):  # cam-good keeps passing, yet no ping may go out
            passes.clear()
            assert passes.wait(WAIT_S)
        assert drain(sock) == []

        stuck.hang.clear()
        stuck.release.set()  # the frame ends: the loop passes again and pings resume
        assert sock.recv(256) == b"WATCHDOG=1"
    finally:
        for w in workers:
            w.stop()


def test_a_stopped_camera_no_longer_holds_the_pings_back() -> None:
    sent: list[str] = []
    clock = FakeClock()
    dog = PipelineWatchdog(10.0, notify=lambda m: sent.append(m) or True, clock=clock)
    dog.alive("a")
    dog.alive("b")
    assert sent == ["WATCHDOG=1"]
    clock.now += 60
    dog.alive("a")  # b is silent: held back
    assert sent == ["WATCHDOG=1"]
    dog.forget("b")
    dog.alive("a")
    assert sent == ["WATCHDOG=1", "WATCHDOG=1"]


def test_the_log_file_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "edge.log"
    handler = add_rotating_file(path, *rotation_settings(2048, 2))
    logger = logging.getLogger("edge_agent.test_rotation")
    logger.setLevel(logging.INFO)
    try:
        for n in range(200):
            logger.info("line %d %s", n, "x" * 40)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["edge.log", "edge.log.1", "edge.log.2"]  # rotated, and no more than the backups kept
    assert all(p.stat().st_size <= 2048 for p in tmp_path.iterdir())
    assert "line 199" in path.read_text()


def test_rotation_settings_come_from_options_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOPS_LOG_MAX_BYTES", "4096")
    monkeypatch.setenv("CITYOPS_LOG_BACKUPS", "3")
    assert rotation_settings(None, None) == (4096, 3)
    assert rotation_settings(8192, 1) == (8192, 1)
    monkeypatch.setenv("CITYOPS_LOG_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match="CITYOPS_LOG_MAX_BYTES='lots'"):
        rotation_settings(None, None)
    with pytest.raises(ValueError, match=">= 1024"):
        rotation_settings(10, 1)
