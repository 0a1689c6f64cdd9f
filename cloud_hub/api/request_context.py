"""A request id on every API call: taken from the caller's `X-Request-ID` (a proxy or the web app) when it is a sane
token, else made up; bound to every log line written while the request is handled, and answered back in the
response's `X-Request-ID`, so a person's report ("it failed at 10:02") finds its lines in the logs.

A pure ASGI middleware like the security headers: streamed answers (the live channel) pass through unbuffered.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityops.logs import log_context

HEADER = b"x-request-id"
# What a proxy (nginx $request_id, Envoy, a load balancer) sends; anything else is replaced, never logged as given.
_ACCEPTED = re.compile(rb"[A-Za-z0-9._:-]{8,128}")


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == HEADER and _ACCEPTED.fullmatch(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers", []))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message["headers"] = [*headers, (HEADER, request_id.encode("ascii"))]
            await send(message)

        with log_context(request_id=request_id):
            await self.app(scope, receive, send_with_id)
