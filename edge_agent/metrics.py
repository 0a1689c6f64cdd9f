"""Prometheus metrics of one agent, on its own registry (several agents in one test process never collide).

Counted where things happen: frames and inference time by the pipeline workers, events by the recorder. Read at
scrape time from their owners: outbox depth, bytes, refused events and dropped health/telemetry, and each
camera's dropped frames and state. `serve()` exposes them over HTTP when the config names a port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from edge_agent.capture.reader import CameraStatus
from edge_agent.comms.outbox import Outbox

log = logging.getLogger(__name__)

CAMERA_STATES = ("starting", "ok", "stalled", "reconnecting", "offline", "stopped")


class EdgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.frames = Counter("cityops_edge_frames", "Frames analysed", ["camera_id"], registry=self.registry)
        self.inference_ms = Histogram(
            "cityops_edge_inference_ms",
            "Detector run time per frame in milliseconds",
            buckets=(2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 500, 1000, 2500),
            registry=self.registry,
        )
        self.events = Counter(
            "cityops_edge_events", "Events recorded in the outbox", ["kind", "phase"], registry=self.registry
        )
        self.events_refused = Counter(
            "cityops_edge_events_refused", "Events refused because the outbox was full", registry=self.registry
        )
        self._server = None

    def watch(
        self,
        outbox: Outbox,
        cameras: Callable[[], Iterable[CameraStatus]],
        batch_sizes: Callable[[], dict[int, int] | None] = lambda: None,
    ) -> None:
        """Read outbox and camera figures at scrape time; `batch_sizes`: inference runs by frames per run, from the
        cross-camera batcher (None while inference runs one frame at a time)."""
        self.registry.register(_StateCollector(outbox, cameras, batch_sizes))

    def on_frame(self, camera_id: str, inference_ms: float | None) -> None:
        self.frames.labels(camera_id).inc()
        if inference_ms is not None:
            self.inference_ms.observe(inference_ms)

    def on_event(self, kind: str, phase: str) -> None:
        self.events.labels(kind, phase).inc()

    def serve(self, host: str, port: int) -> Callable[[], None]:
        """Start the /metrics HTTP server; returns its stop function."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        log.info("Prometheus metrics on http://%s:%d/metrics", host, port)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        return stop


class _StateCollector(Collector):
    def __init__(
        self,
        outbox: Outbox,
        cameras: Callable[[], Iterable[CameraStatus]],
        batch_sizes: Callable[[], dict[int, int] | None],
    ) -> None:
        self.outbox = outbox
        self.cameras = cameras
        self.batch_sizes = batch_sizes

    def collect(self) -> Iterable:
        ob = self.outbox
        yield GaugeMetricFamily("cityops_edge_outbox_depth", "Unacked events in the outbox", value=ob.depth())
        yield GaugeMetricFamily("cityops_edge_outbox_bytes", "Bytes held by the outbox", value=ob.usage_bytes())
        yield GaugeMetricFamily("cityops_edge_outbox_quota_bytes", "Outbox disk quota", value=ob.max_bytes)
        full = GaugeMetricFamily(
            "cityops_edge_outbox_pressure", "1 for the outbox's current pressure level", labels=["level"]
        )
        level = ob.pressure()
        for name in ("ok", "dropping_low_priority", "full"):
            full.add_metric([name], 1.0 if name == level else 0.0)
        yield full
        yield CounterMetricFamily(
            "cityops_edge_outbox_dropped_low_priority",
            "Health/telemetry messages dropped to keep room for events",
            value=ob.dropped_low_priority,
        )
        dropped = CounterMetricFamily(
            "cityops_edge_dropped_frames", "Frames captured but not analysed in time", labels=["camera_id"]
        )
        state = GaugeMetricFamily(
            "cityops_edge_camera_state", "1 for the camera's state", labels=["camera_id", "state"]
        )
        for cam in self.cameras():
            dropped.add_metric([cam.camera_id], cam.dropped_frames)
            for name in CAMERA_STATES:
                state.add_metric([cam.camera_id, name], 1.0 if cam.status == name else 0.0)
        yield dropped
        yield state
        sizes = self.batch_sizes()
        if sizes is not None:
            # Batches that stay at 1 on a busy multi-camera box mean the cameras are not sharing inference runs.
            runs = CounterMetricFamily(
                "cityops_edge_inference_batches", "Inference runs by frames per run (batching)", labels=["size"]
            )
            for size, count in sorted(sizes.items()):
                runs.add_metric([str(size)], count)
            yield runs
