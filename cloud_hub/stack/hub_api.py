"""The few hub API calls the demo makes, as the admin (OAuth2 password login, then bearer token)."""

from __future__ import annotations

from typing import Any

import httpx

from cloud_hub.stack.errors import StackError


class HubApiError(StackError):
    pass


class HubApi:
    def __init__(self, base_url: str, timeout_s: float = 15.0) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def login(self, username: str, password: str) -> None:
        response = self._http.post("/api/v1/auth/token", data={"username": username, "password": password})
        body = self._json(response, f"login as {username!r}")
        self._http.headers["Authorization"] = f"Bearer {body['access_token']}"

    def provision_device(self, device_id: str, kind: str, lon: float | None, lat: float | None) -> dict[str, Any]:
        """POST /api/v1/devices: device_id, mqtt_host, mqtt_port, username, password, hub_url."""
        payload = {"device_id": device_id, "kind": kind, "lon": lon, "lat": lat}
        return self._json(self._http.post("/api/v1/devices", json=payload), f"provision device {device_id}")

    def ensure_roster(self, entry: dict[str, Any]) -> bool:
        """POST /api/v1/admin/rosters; False when an entry with that roster_id is there already (409)."""
        response = self._http.post("/api/v1/admin/rosters", json=entry)
        if response.status_code == 409:
            return False
        self._json(response, f"add roster {entry.get('roster_id')}")
        return True

    def list(self, path: str, **params: Any) -> list[dict[str, Any]]:
        body = self._json(self._http.get(path, params=params), f"GET {path}")
        return list(body["data"])

    @staticmethod
    def _json(response: httpx.Response, what: str) -> dict[str, Any]:
        if response.is_error:
            raise HubApiError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
        try:
            return dict(response.json())
        except ValueError as exc:
            raise HubApiError(f"{what}: the hub answered something that is not JSON: {response.text[:200]}") from exc
