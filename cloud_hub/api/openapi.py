"""The hub's OpenAPI schema as a file: what the web apps' typed client is generated from.

`python -m cloud_hub.api.openapi --write` rewrites dashboards/web/src/api/openapi.json; without `--write` it prints
the schema. A test fails when the committed file differs from what the app describes now, so the TypeScript client
(dashboards/web: `npm run gen:api`) can never drift from the API.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cloud_hub

SCHEMA_FILE = Path(cloud_hub.__file__).resolve().parents[1] / "dashboards" / "web" / "src" / "api" / "openapi.json"


def openapi_schema() -> dict[str, Any]:
    from cloud_hub.app import create_app
    from cloud_hub.core.config import HubSettings

    return create_app(HubSettings()).openapi()  # no database needed: the schema comes from the routes alone


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloud_hub.api.openapi", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {SCHEMA_FILE} instead of printing")
    args = parser.parse_args(argv)
    text = render(openapi_schema())
    if args.write:
        SCHEMA_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_FILE}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
