"""Helpers for the citizens' report tests (a uniquely named module, imported by the test files)."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from PIL import Image

from cloud_hub.seed.demo import DEMO_LOCATION, DEMO_PASSWORD


def login(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def admin(client: TestClient) -> dict[str, str]:
    return login(client, "admin", "admin-test-pw")


def new_hotline(client: TestClient, client_id: str | None = None) -> dict[str, str]:
    """Register a hotline client through the admin API; its bearer header."""
    body = {"client_id": client_id or f"hotline-{uuid.uuid4().hex[:8]}", "name": "12345 citizens' hotline"}
    response = client.post("/api/v1/report-clients", json=body, headers=admin(client))
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def jpeg_b64(color: str = "red", size: tuple[int, int] = (40, 30)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def report(case_number: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_number": case_number or f"GL{uuid.uuid4().hex[:12].upper()}",
        "category": "illegal_parking",
        "text": "A white van has blocked the fire lane at the north gate since this morning.",
        "place": {**DEMO_LOCATION, "address": "Gulou, north gate of Zhongshan Rd 100"},
        "reported_at": "2026-11-23T09:12:00+08:00",
    }
    body.update(overrides)
    return body


def count(conn: psycopg.Connection, sql: str, *params: object) -> int:
    return conn.execute(sql, params).fetchone()[0]
