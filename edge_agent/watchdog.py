"""systemd readiness and watchdog (`Type=notify`, `WatchdogSec=` in deploy/jetson/cityops-edge.service).

`sd_notify` speaks the notify protocol with the standard library: one datagram to the unix socket named by
NOTIFY_SOCKET (a leading `@` is Linux's abstract namespace). Outside systemd there is no socket and it does nothing.

`PipelineWatchdog` sends `WATCHDOG=1` from the camera pipeline loops themselves, never from a timer thread: each
loop calls `alive(name)` once per pass (a frame processed, or an idle wait for one), and a ping goes out only while
every registered loop has passed recently. A loop stuck in a frame (a hung decoder or inference call) stops the
pings, and systemd restarts the agent after WatchdogSec. A camera that is merely offline keeps its loop passing
(it waits 0.5 s for frames), so it does not restart the box.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


def sd_notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one notify message (e.g. "READY=1"); False when not run by systemd or the socket is gone."""
    address = (env if env is not None else os.environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("systemd notify %r failed: %s", message, exc)
        return False
    return True


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """WATCHDOG_USEC in seconds when systemd asks for pings for this process (WATCHDOG_PID, if set, is ours)."""
    env = env if env is not None else os.environ
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec) / 1_000_000
    except ValueError:
        return None
    return value if value > 0 else None


class PipelineWatchdog:
    """Pings while every pipeline loop is passing; `timeout_s` is systemd's WatchdogSec."""

    def __init__(
        self,
        timeout_s: float,
        notify: Callable[[str], bool] = sd_notify,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ping_every_s = timeout_s / 2  # systemd's advice: ping at half the timeout
        self.stale_after_s = timeout_s / 2  # a loop silent this long is hung: no more pings
        self._notify = notify
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._last_ping = float("-inf")
        self._lock = threading.Lock()

    def alive(self, name: str) -> None:
        """One pass of loop `name`; pings when it is time and no other loop is stuck."""
        now = self._clock()
        with self._lock:
            self._seen[name] = now
            if now - self._last_ping < self.ping_every_s:
                return
            if any(now - seen > self.stale_after_s for seen in self._seen.values()):
                return
            self._last_ping = now
        self._notify("WATCHDOG=1")

    def forget(self, name: str) -> None:
        """A loop stopped on purpose (camera removed or restarted): it no longer holds the pings back."""
        with self._lock:
            self._seen.pop(name, None)
