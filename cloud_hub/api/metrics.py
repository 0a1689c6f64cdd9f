"""HTTP request metrics (Prometheus), labelled by route template so ids do not explode the label set."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter("cityops_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram("cityops_http_request_seconds", "HTTP request latency", ["method", "route"])


class RequestMetricsMiddleware:
    """Pure ASGI middleware (no response buffering, works with streaming answers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def record_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], template, str(status_code)).inc()
            HTTP_LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)
