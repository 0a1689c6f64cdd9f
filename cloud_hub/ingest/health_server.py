"""`/metrics` and `/healthz` for ingest processes, which serve no API: each worker on its own port (Prometheus
scrapes every worker; its metrics are its own), and the supervisor on the base port for the orchestrator's liveness
probe. The supervisor also polls its workers' `/healthz` and restarts one that stays unhealthy (a stuck worker:
alive, but its writers dead, its broker gone or its database failing for too long).

Ports: `CITYOPS_INGEST_METRICS_PORT` (the supervisor) and the next N ports (worker 0..N-1); 0 turns them off.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, dict[str, Any]]]  # -> (healthy, detail for the answer)


def worker_port(base: int, index: int) -> int:
    return base + 1 + index


def serve_health(host: str, port: int, check: Check) -> HealthServer | None:
    """The server started, or None with a warning when the port is taken: ingesting matters more than being
    probed (several test stacks, or a second supervisor on one host, may share the default ports)."""
    try:
        return HealthServer(host, port, check).start()
    except OSError as exc:
        log.warning("no /healthz and /metrics on %s:%d (%s): set CITYOPS_INGEST_METRICS_PORT", host, port, exc)
        return None


class HealthServer:
    """A small HTTP server on its own thread: GET /metrics (this process's Prometheus registry), GET /healthz (200
    or 503 with a JSON detail from `check`)."""

    def __init__(self, host: str, port: int, check: Check) -> None:
        handler = _handler(check)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="health-http", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(check: Check) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._answer(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                ok, detail = check()
                body = json.dumps({"status": "ok" if ok else "unhealthy", **detail}, default=str).encode()
                self._answer(200 if ok else 503, body, "application/json")
            else:
                self._answer(404, b"not found: /metrics or /healthz\n", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:  # probes every few seconds: not worth a log line each
            pass

    return Handler


def probe(host: str, port: int, timeout_s: float = 2.0) -> bool:
    """Whether a process's /healthz answers 200 within `timeout_s` (no answer, or any other status: False)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=timeout_s) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError, TimeoutError):
        return False
