"""Refuse a request whose path or query holds a NUL character, with a 400 problem naming where.

PostgreSQL text cannot hold NUL (0x00), so such a value reached the database and failed there with a 500 (found by
tests/fuzz: `?actor=%00`). No route has a use for it; refusing it once here covers every parameter of every route.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

from cloud_hub.api.problems import PROBLEM_MEDIA_TYPE, problem_body


def nul_location(path: str, query_string: bytes) -> str | None:
    """Where a NUL character is (`path` or `query parameter NAME`), or None (pure)."""
    if "\x00" in unquote(path):
        return "path"
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return f"query parameter {name.replace(chr(0), '')!r}"
    return None


class NulGuardMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        where = nul_location(scope.get("path", ""), scope.get("query_string", b"")) if scope["type"] == "http" else None
        if where is None:
            await self.app(scope, receive, send)
            return
        from fastapi.responses import JSONResponse

        body = problem_body(400, f"{where} contains a NUL character (\\u0000), which no value may hold", scope["path"])
        await JSONResponse(body, status_code=400, media_type=PROBLEM_MEDIA_TYPE)(scope, receive, send)
