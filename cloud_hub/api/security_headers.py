"""Security headers on every answer of the hub: the web apps' pages, their files and the API.

A pure ASGI middleware (it touches only the response's start message), so streamed answers such as the live
channel's server-sent events pass through unbuffered.

The Content-Security-Policy allows scripts from the hub alone and no inline script; inline styles are allowed
because the component libraries set style attributes. Map tiles come from the hub, or from the one tile server the
operator configured (`CITYOPS_MAP_TILES_URL`), which is then the only other origin pictures may come from.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def tile_origin(tiles_url: str | None) -> str | None:
    """`https://host:port` of a tile URL template (None for none, or a path on the hub itself)."""
    if not tiles_url:
        return None
    parts = urlsplit(tiles_url.replace("{", "").replace("}", ""))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def content_security_policy(extra_img_origin: str | None = None) -> str:
    img = "'self' data: blob:" + (f" {extra_img_origin}" if extra_img_origin else "")
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {img}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "manifest-src 'self'",
            "media-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(extra_img_origin: str | None = None) -> list[tuple[bytes, bytes]]:
    headers = {
        "content-security-policy": content_security_policy(extra_img_origin),
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "strict-origin-when-cross-origin",
        # The officer app takes photos and reads the phone's position; nothing else may ask for either.
        "permissions-policy": "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()",
        "cross-origin-opener-policy": "same-origin",
    }
    return [(k.encode(), v.encode()) for k, v in headers.items()]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, extra_img_origin: str | None = None) -> None:
        self.app = app
        self.headers = security_headers(extra_img_origin)
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.names]
                message = {**message, "headers": kept + self.headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
