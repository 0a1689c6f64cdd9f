"""Secrets of one stack instance, generated once and kept in an owner-only file in the state dir."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from cloud_hub.stack.errors import StackError

HUB_MQTT_USER = "cityops-hub"
BROKER_ADMIN_USER = "cityops-admin"
# Fixed so the demo can print one password people can type; override with CITYOPS_ADMIN_PASSWORD.
DEMO_ADMIN_PASSWORD = "cityops-admin"


class StackSecrets(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hub_mqtt_password: str
    broker_admin_password: str
    jwt_secret: str
    admin_password: str


class SecretsFileError(StackError):
    pass


def generate_secrets(admin_password: str = DEMO_ADMIN_PASSWORD) -> StackSecrets:
    return StackSecrets(
        hub_mqtt_password=secrets.token_urlsafe(24),
        broker_admin_password=secrets.token_urlsafe(24),
        jwt_secret=secrets.token_urlsafe(48),
        admin_password=admin_password,
    )


def load_or_create_secrets(path: Path, admin_password: str = DEMO_ADMIN_PASSWORD) -> StackSecrets:
    """Read the secrets file, or create it (mode 0600) on first use. A damaged file is an error, never silently
    replaced: the broker and the database already hold passwords derived from it."""
    if path.exists():
        try:
            return StackSecrets.model_validate(json.loads(path.read_text()))
        except (ValueError, ValidationError) as exc:
            raise SecretsFileError(
                f"{path}: not a valid stack secrets file ({exc}); fix it or remove the whole state dir to start over"
            ) from exc
    created = generate_secrets(admin_password)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    # Created 0600 (O_EXCL, so no leftover file with wider permissions is reused): never readable by others.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(created.model_dump_json(indent=2))
    os.replace(tmp, path)
    return created
