"""`cityops models publish`: upload an ONNX file to the hub (POST /api/v1/models) and start a canary rollout
(POST /api/v1/models/{sha256}/rollout) to the named boxes.

The HTTP client is passed in, so tests drive the real hub app in-process and the command uses httpx over the
network; errors carry the hub's problem detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

API = "/api/v1"


class PublishError(RuntimeError):
    """The hub refused a step; the message names the step, the status and the hub's reason."""


@dataclass(frozen=True, slots=True)
class Release:
    model: dict[str, Any]  # the hub's record: sha256, name, version, url, created
    rollout: dict[str, Any] | None  # per device: sent, cmd_id or the reason it was skipped


def hub_problem(response: Any) -> str:
    """The reason from a FastAPI error body ({"detail": str | list}) or an RFC 9457 problem, else the text."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or "").strip()[:300] or "(no body)"
    if isinstance(body, dict):
        detail = body.get("detail", body.get("title"))
        if isinstance(detail, list):  # validation errors: location and message of each
            return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail)
        if detail:
            return str(detail)
    return str(body)[:300]


def _check(response: Any, step: str, ok: tuple[int, ...]) -> dict[str, Any]:
    if response.status_code not in ok:
        raise PublishError(f"{step}: the hub answered {response.status_code}: {hub_problem(response)}")
    return response.json()


def login(client: Any, username: str, password: str) -> str:
    answer = client.post(f"{API}/auth/token", data={"username": username, "password": password})
    return str(_check(answer, f"log in as {username!r}", (200,))["access_token"])


def publish(client: Any, token: str, model: Path, name: str, version: str, canary: list[str] | None = None) -> Release:
    if not model.is_file():
        raise ValueError(f"model file {model} not found")
    headers = {"Authorization": f"Bearer {token}"}
    with model.open("rb") as fh:
        uploaded = client.post(
            f"{API}/models",
            params={"name": name, "version": version},
            content=fh.read(),
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
    record = _check(uploaded, f"upload {model.name} as {name} {version}", (200, 201))
    rollout = None
    if canary:
        sent = client.post(f"{API}/models/{record['sha256']}/rollout", json={"devices": canary}, headers=headers)
        rollout = _check(sent, f"canary rollout of {record['sha256'][:12]}", (202,))
    return Release(model=record, rollout=rollout)
