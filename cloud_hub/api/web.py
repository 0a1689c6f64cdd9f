"""The web apps and the API docs, served by the hub itself from the built front end (dashboards/web/dist).

Nothing is fetched from another origin: scripts, styles, icons, Swagger UI and ReDoc all come from the build.

| path | what |
|---|---|
| `/` | login, then the app of the user's role |
| `/command/`, `/officer/`, `/technician/`, `/admin/` | the apps; an unknown path below one is that app's page |
| `/dashboard` | redirects to the command center |
| `/docs`, `/redoc` | Swagger UI and ReDoc over `/openapi.json` |
| `/assets/`, `/vendor/`, `/icons/` | the built files (`/assets/` names carry a content hash: cached for a year) |

Built files with a `.gz` copy beside them go to browsers that accept gzip as that copy.

Without a build (`make web` was never run) these paths answer 503 saying how to build; the API works regardless.
"""

from __future__ import annotations

import logging
import mimetypes
import os
from os import PathLike
from pathlib import Path

from fastapi import FastAPI, HTTPException, status
from fastapi.responses import FileResponse, RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

import cloud_hub

log = logging.getLogger(__name__)

APPS = ("command", "officer", "technician", "admin")
DEFAULT_WEB_DIR = Path(cloud_hub.__file__).resolve().parents[1] / "dashboards" / "web" / "dist"
_NOT_BUILT = (
    "the web apps are not built: run `make web` in the repository (needs Node.js 18.18 or newer), "
    "or set CITYOPS_WEB_DIR to a built dashboards/web/dist"
)


class PrecompressedStatic(StaticFiles):
    """Built files, sent as their gzip copy (`name.gz`, written by the build: dashboards/web/scripts/precompress.mjs)
    to a browser that accepts gzip: a third of the bytes, and no compressing per request."""

    def file_response(
        self, full_path: PathLike[str] | str, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        packed = f"{full_path}.gz"
        if not os.path.isfile(packed):
            return super().file_response(full_path, stat_result, scope, status_code)
        if not _accepts_gzip(scope):
            response = super().file_response(full_path, stat_result, scope, status_code)
        else:
            media_type = mimetypes.guess_type(str(full_path))[0] or "application/octet-stream"
            response = super().file_response(packed, os.stat(packed), scope, status_code)
            charset = "; charset=utf-8" if media_type.startswith("text/") else ""
            response.headers["Content-Type"] = media_type + charset
            response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"  # a shared cache keeps both forms apart
        return response


class ImmutableStatic(PrecompressedStatic):
    """Hashed build output: the name changes whenever the content does, so browsers may keep it for a year."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def _accepts_gzip(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"accept-encoding":
            codings = [part.split(b";")[0].strip() for part in value.lower().split(b",")]
            return b"gzip" in codings or b"*" in codings
    return False


def _page(web_dir: Path, relative: str) -> FileResponse:
    path = web_dir / relative
    if not path.is_file():
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, _NOT_BUILT)
    # Pages are small and name the hashed files of the current build: always revalidate them.
    return FileResponse(path, headers={"Cache-Control": "no-cache"})


def _inside(base: Path, relative: str) -> Path | None:
    """The file `relative` below `base`, refusing any path that would leave it."""
    candidate = (base / relative).resolve()
    return candidate if candidate.is_file() and candidate.is_relative_to(base.resolve()) else None


def mount_web(app: FastAPI, web_dir: Path | None) -> None:
    """Add the pages, the apps and the docs to `app`; `web_dir` None means the repository's build folder."""
    root = (web_dir or DEFAULT_WEB_DIR).resolve()
    if not (root / "index.html").is_file():
        log.warning("web apps not found in %s: %s", root, _NOT_BUILT)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return _page(root, "index.html")

    @app.get("/dashboard", include_in_schema=False)
    def dashboard() -> RedirectResponse:
        return RedirectResponse("/command/")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> FileResponse:
        return _page(root, "docs/swagger.html")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> FileResponse:
        return _page(root, "docs/redoc.html")

    for name in APPS:
        _mount_app(app, root, name)
    for folder in ("assets", "vendor", "icons", "docs"):
        directory = root / folder
        static = ImmutableStatic if folder == "assets" else PrecompressedStatic
        app.mount(f"/{folder}", static(directory=directory, check_dir=False), name=f"web-{folder}")


def _mount_app(app: FastAPI, root: Path, name: str) -> None:
    base = root / name

    @app.get(f"/{name}", include_in_schema=False)
    def bare() -> RedirectResponse:
        return RedirectResponse(f"/{name}/")

    @app.get(f"/{name}/{{path:path}}", include_in_schema=False)
    def page(path: str) -> FileResponse:
        found = _inside(base, path) if path else None
        if found is not None:  # the app's own files: manifest, service worker, icons
            return FileResponse(found, headers={"Cache-Control": "no-cache"})
        return _page(root, f"{name}/index.html")

    bare.__name__ = f"web_{name}_bare"
    page.__name__ = f"web_{name}_page"
