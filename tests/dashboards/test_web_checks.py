"""The web apps' own checks, run by the suite so CI fails on them: TypeScript types against the hub's OpenAPI schema,
lint (Vue, accessibility, no untranslated text in templates), both languages complete, unit tests; and the committed
schema and generated client types match what the hub describes now."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cloud_hub.api.openapi import SCHEMA_FILE, openapi_schema, render

WEB = Path(__file__).resolve().parents[2] / "dashboards" / "web"


def _npm(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    if shutil.which("npm") is None or not (WEB / "node_modules").is_dir():
        pytest.fail("the web apps' packages are not installed: run `make web` (needs Node.js and npm)")
    return subprocess.run(["npm", *args], cwd=WEB, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("script", ["typecheck", "lint", "i18n:check", "test:unit"])
def test_web_check(script: str) -> None:
    result = _npm("run", "--silent", script)
    assert result.returncode == 0, f"npm run {script} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"


def test_committed_openapi_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(openapi_schema()), (
        "dashboards/web/src/api/openapi.json is out of date: run `python -m cloud_hub.api.openapi --write` "
        "then `npm run gen:api` in dashboards/web"
    )


def test_generated_client_types_are_current(tmp_path: Path) -> None:
    out = tmp_path / "schema.d.ts"
    result = _npm("exec", "--", "openapi-typescript", str(SCHEMA_FILE), "-o", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.read_text() == (WEB / "src" / "api" / "schema.d.ts").read_text(), (
        "dashboards/web/src/api/schema.d.ts is out of date: run `npm run gen:api` in dashboards/web"
    )
