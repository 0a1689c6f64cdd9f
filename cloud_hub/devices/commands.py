"""`cityops device provision`: register a device through the running hub's API and print its credentials."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "cityops"


class ProvisionError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class HubLogin:
    hub_url: str
    username: str
    password: str


def find_hub(environ: dict[str, str] | None = None) -> HubLogin:
    """Hub URL and admin login: CITYOPS_HUB_URL / CITYOPS_ADMIN_USER / CITYOPS_ADMIN_PASSWORD win, then the
    `stack.json` written by `cityops stack up` in CITYOPS_STATE_DIR, then the hub settings' defaults."""
    env = os.environ if environ is None else environ
    state_dir = Path(env.get("CITYOPS_STATE_DIR") or DEFAULT_STATE_DIR).expanduser()
    stack: dict[str, Any] = {}
    stack_file = state_dir / "stack.json"
    if stack_file.is_file():
        try:
            stack = json.loads(stack_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProvisionError(f"{stack_file} is unreadable ({exc}); set CITYOPS_HUB_URL instead") from None
    from cloud_hub.core.config import HubSettings

    settings = HubSettings()
    return HubLogin(
        hub_url=(env.get("CITYOPS_HUB_URL") or stack.get("hub_url") or settings.hub_url).rstrip("/"),
        username=env.get("CITYOPS_ADMIN_USER") or stack.get("admin_user") or settings.admin_user,
        password=env.get("CITYOPS_ADMIN_PASSWORD")
        or stack.get("admin_password")
        or settings.admin_password.get_secret_value(),
    )


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


def provision(
    login: HubLogin, device_id: str, kind: str, lon: float | None, lat: float | None, *, client: httpx.Client
) -> dict[str, Any]:
    try:
        token = client.post(
            f"{login.hub_url}/api/v1/auth/token", data={"username": login.username, "password": login.password}
        )
        if token.status_code != 200:
            raise ProvisionError(f"login as {login.username!r} at {login.hub_url} failed: {_detail(token)}")
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        body: dict[str, Any] = {"device_id": device_id, "kind": kind}
        if lon is not None or lat is not None:
            body.update(lon=lon, lat=lat)
        response = client.post(f"{login.hub_url}/api/v1/devices", json=body, headers=headers)
    except httpx.TransportError as exc:
        hint = "is `cityops stack up` running?"
        raise ProvisionError(f"cannot reach the hub at {login.hub_url} ({exc}); {hint}") from exc
    if response.status_code not in (200, 201):
        raise ProvisionError(f"the hub refused to provision {device_id!r}: {_detail(response)}")
    return response.json()


def provision_command(args: argparse.Namespace) -> int:
    """`cityops device provision --id ID --kind edge|sensor [--lon X --lat Y] [--json]`."""
    try:
        login = find_hub()
        with httpx.Client(timeout=30.0) as client:
            result = provision(login, args.device_id, args.kind, args.lon, args.lat, client=client)
    except ProvisionError as exc:
        print(f"cityops device provision: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for key in ("device_id", "mqtt_host", "mqtt_port", "mqtt_tls", "username", "password", "hub_url"):
        print(f"{key:<10} {result.get(key)}")
    print("Keep the password: it is shown only now. Provisioning again issues a new one.")
    return 0
