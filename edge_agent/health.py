"""Health snapshots (protocol `health`, QoS 0) every `health_interval_s`: cameras, inference, outbox, process.

`report_soon()` asks for one at once (from any thread): the agent calls it when a hub configuration was applied
or refused, so the hub sees the applied version or `config_error` without waiting for the next interval.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from cityops.contract.messages import HealthSnapshot, dump, utc_now
from cityops.contract.topics import Topic
from edge_agent.capture.reader import CameraStatus
from edge_agent.comms.link import Link

log = logging.getLogger(__name__)


class LatencyWindow:
    """The last `size` inference times; thread-safe, bounded."""

    def __init__(self, size: int = 200) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._values.append(ms)

    def p50(self) -> float | None:
        with self._lock:
            return round(statistics.median(self._values), 2) if self._values else None


class ProcessStats:
    """CPU % of this process since the previous call and resident memory, from /proc (no psutil needed)."""

    def __init__(self) -> None:
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._last = (time.monotonic(), self._cpu_s())

    def _cpu_s(self) -> float | None:
        try:
            fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self._ticks  # utime + stime (fields 14, 15 of stat)

    def cpu_pct(self) -> float | None:
        now, cpu = time.monotonic(), self._cpu_s()
        last_t, last_cpu = self._last
        self._last = (now, cpu)
        if cpu is None or last_cpu is None or now <= last_t:
            return None
        return round(100.0 * (cpu - last_cpu) / (now - last_t), 1)

    @staticmethod
    def mem_mb() -> float | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            return None
        return None


def gpu_temp_c(thermal_root: Path = Path("/sys/class/thermal")) -> float | None:
    """GPU temperature where the kernel exposes one (Jetson: thermal zone `GPU-therm`)."""
    for zone in sorted(thermal_root.glob("thermal_zone*")):
        try:
            if "gpu" in (zone / "type").read_text().lower():
                return int((zone / "temp").read_text()) / 1000
        except (OSError, ValueError):
            continue
    return None


def build_health(
    *,
    device_id: str,
    uptime_s: float,
    agent_version: str,
    config_version: int | None,
    cameras: list[CameraStatus],
    inference_ms_p50: float | None,
    outbox_depth: int,
    process: ProcessStats,
    models: list[dict],
) -> HealthSnapshot:
    return HealthSnapshot(
        device_id=device_id,
        ts=utc_now(),
        uptime_s=round(uptime_s, 1),
        agent_version=agent_version,
        config_version=config_version,
        cameras=[
            {"camera_id": c.camera_id, "status": c.status, "fps": c.fps, "dropped_frames": c.dropped_frames}
            | ({"detail": c.detail} if c.detail else {})
            for c in cameras
        ],
        inference_ms_p50=inference_ms_p50,
        outbox_depth=outbox_depth,
        cpu_pct=process.cpu_pct(),
        mem_mb=process.mem_mb(),
        gpu_temp_c=gpu_temp_c(),
        models=models,
    )


class HealthReporter:
    def __init__(
        self,
        link: Link,
        build: Callable[[], HealthSnapshot],
        interval_s: float,
        spool: Callable[[str, bytes, int], bool] | None = None,
    ) -> None:
        """`spool(topic, payload, qos)` keeps snapshots taken while offline (the outbox's low-priority spool)."""
        self.link = link
        self.spool = spool
        self.build = build
        self.interval_s = interval_s
        self.last: HealthSnapshot | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def report_once(self) -> HealthSnapshot:
        snapshot = self.build()
        self.last = snapshot
        payload = dump(snapshot)
        if not self.link.publish(Topic.HEALTH, payload, qos=0) and self.spool is not None:
            self.spool(Topic.HEALTH.value, payload, 0)
        return snapshot

    def report_soon(self) -> None:
        """Publish a snapshot now instead of at the next interval (on the health thread; never blocks)."""
        self._wake.set()

    def _run(self) -> None:
        # First report soon after start so the hub sees cameras and models without waiting a full interval.
        delay = min(5.0, self.interval_s)
        while True:
            self._wake.wait(delay)
            if self._stop.is_set():
                return
            self._wake.clear()  # before building: a request during the report gets a report of its own
            try:
                self.report_once()
            except Exception:
                log.exception("health report failed")
            delay = self.interval_s
