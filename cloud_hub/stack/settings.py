"""Settings of the local stack, from `CITYOPS_*` environment variables (see deploy/cloud/local/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DatabaseKind = Literal["timescaledb", "postgres"]
DatabaseChoice = Literal["auto", "timescaledb", "postgres"]


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "cityops"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "cityops"


class StackSettings(BaseSettings):
    """Where the stack keeps its state and which ports it listens on.

    Several stacks coexist on one machine when each has its own state dir and ports (tests do this).
    """

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="forbid")

    state_dir: Path = Field(default_factory=_default_state_dir, description="instance data, logs, pids, secrets")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="TimescaleDB root filesystem (shared)")
    stack_mqtt_port: int = Field(18830, ge=1, le=65535)
    stack_pg_port: int = Field(55432, ge=1, le=65535)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8765, ge=1, le=65535)
    stack_db: DatabaseChoice = "auto"
    # Set these to use existing services: the stack then starts only the hub.
    database_url: str | None = None
    mqtt_url: str | None = None
    admin_user: str = "admin"
    admin_password: SecretStr | None = Field(None, description="overrides the generated/demo admin password")
    share_group: str = "hub"
    hub_start_timeout_s: float = Field(120.0, gt=0)
    rules_dir: Path | None = Field(None, description="the hub's rules folder (with hub/); default: the checkout's")

    @property
    def hub_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"
