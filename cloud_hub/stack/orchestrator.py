"""Bring the whole local stack up or down, in order, and report where everything is."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cloud_hub
from cloud_hub.core.config import MqttEndpoint
from cloud_hub.stack import database, hub_process, mosquitto
from cloud_hub.stack.credentials import StackSecrets, load_or_create_secrets
from cloud_hub.stack.paths import StackPaths
from cloud_hub.stack.processes import ProcessRecord
from cloud_hub.stack.settings import DatabaseChoice, StackSettings

Progress = Callable[[str], None]
ORDER = ("broker", "database", "hub")  # start order; stopped in reverse
REPO_ROOT = Path(cloud_hub.__file__).resolve().parent.parent

log = logging.getLogger(__name__)


def stack_paths(settings: StackSettings) -> StackPaths:
    return StackPaths.create(settings.state_dir, settings.cache_dir)


def stack_secrets(settings: StackSettings, paths: StackPaths) -> StackSecrets:
    secrets = load_or_create_secrets(paths.secrets_file)
    if settings.admin_password is not None:
        secrets = secrets.model_copy(update={"admin_password": settings.admin_password.get_secret_value()})
    return secrets


def demo_location() -> dict[str, float] | None:
    try:
        from cloud_hub.seed.demo import DEMO_LOCATION
    except ImportError as exc:
        log.warning("demo seed not available (%s): demo_location unknown", exc)
        return None
    return dict(DEMO_LOCATION)


def bring_up(
    settings: StackSettings,
    *,
    database_choice: DatabaseChoice | None = None,
    progress: Progress,
    started: list[str] | None = None,
    hub_argv: Sequence[str] | None = None,
    hub_cmdline_hint: str = hub_process.CMDLINE_HINT,
) -> dict[str, Any]:
    """Start what is not running; return the stack description (also written to stack.json). Components started
    by this call are appended to `started` as they come up, so a caller can undo exactly those on failure."""
    started = started if started is not None else []
    paths = stack_paths(settings)
    paths.ensure()
    secrets = stack_secrets(settings, paths)
    host = "127.0.0.1"

    if settings.mqtt_url:
        mqtt_url = settings.mqtt_url
        progress(f"broker: using CITYOPS_MQTT_URL ({MqttEndpoint(mqtt_url)!r})")
    else:
        broker = mosquitto.start_broker(
            broker_dir=paths.broker_dir,
            run_dir=paths.run_dir,
            log_file=paths.log_file("broker"),
            port=settings.stack_mqtt_port,
            secrets=secrets,
            host=host,
            share_group=settings.share_group,
        )
        if broker.started:
            started.append("broker")
        progress(f"broker: mosquitto {'started' if broker.started else 'already running'} on {host}:{broker.port}")
        mqtt_url = broker.hub_url

    db_kind: str = "external"
    ts_version: str | None = None
    if settings.database_url:
        database_url = settings.database_url
        progress("database: using CITYOPS_DATABASE_URL")
    else:
        handle = database.start_database(
            paths,
            requested=database_choice or settings.stack_db,
            port=settings.stack_pg_port,
            host=host,
            progress=lambda line: progress("database: " + line),
        )
        if handle.started:
            started.append("database")
        database_url, db_kind, ts_version = handle.url, handle.kind, handle.timescaledb_version
        what = f"{handle.kind}" + (f" (TimescaleDB {ts_version})" if ts_version else "")
        progress(f"database: {what} {'started' if handle.started else 'already running'} on {host}:{handle.port}")

    launch = hub_process.HubLaunch(
        database_url=database_url,
        mqtt_url=mqtt_url,
        http_host=settings.http_host,
        http_port=settings.http_port,
        jwt_secret=secrets.jwt_secret,
        admin_user=settings.admin_user,
        admin_password=secrets.admin_password,
        evidence_dir=paths.evidence_dir,
        rules_dir=settings.rules_dir or REPO_ROOT / "rules",
    )
    progress(f"hub: starting (log {paths.log_file('hub')})")
    pid, hub_started = hub_process.start_hub(
        launch,
        run_dir=paths.run_dir,
        log_file=paths.log_file("hub"),
        timeout_s=settings.hub_start_timeout_s,
        argv=hub_argv,
        cmdline_hint=hub_cmdline_hint,
        cwd=REPO_ROOT,
    )
    if hub_started:
        started.append("hub")
    progress(f"hub: {'started' if hub_started else 'already running'} at {launch.url} (pid {pid})")

    endpoint = MqttEndpoint(mqtt_url)
    info: dict[str, Any] = {
        "hub_url": launch.url,
        "docs_url": launch.url + "/docs",
        "mqtt_host": endpoint.host,
        "mqtt_port": endpoint.port,
        "database_url": database_url,
        "database_kind": db_kind,
        "timescaledb_version": ts_version,
        "admin_user": settings.admin_user,
        "admin_password": secrets.admin_password,
        "demo_location": demo_location(),
        "state_dir": str(paths.state_dir),
        "logs_dir": str(paths.logs_dir),
        "started": list(started),
        "components": component_status(settings),
    }
    _write_private_json(paths.stack_file, info)
    return info


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # holds the admin password
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)


def _describe(record: ProcessRecord | None, external: bool = False) -> dict[str, Any]:
    if external:
        return {"running": None, "external": True}
    if record is None:
        return {"running": False, "pid": None, "port": None}
    return {"running": True, "pid": record.pid, "port": record.port, **record.details}


def component_status(settings: StackSettings) -> dict[str, dict[str, Any]]:
    paths = stack_paths(settings)
    hub = _describe(hub_process.hub_status(paths.run_dir))
    if hub["running"]:
        hub["healthy"] = hub_process.health_ok(settings.hub_url)
    return {
        "broker": _describe(mosquitto.broker_status(paths.run_dir), external=bool(settings.mqtt_url)),
        "database": _describe(database.database_status(paths), external=bool(settings.database_url)),
        "hub": hub,
    }


def bring_down(
    settings: StackSettings, components: Sequence[str] = ORDER, progress: Progress = print, purge: bool = False
) -> list[str]:
    """Stop the given components (default all) that this state dir started, hub first; returns those stopped.
    With `purge` the database's data directory is deleted too (throwaway stacks: tests, demos)."""
    paths = stack_paths(settings)
    stoppers: dict[str, Callable[[], bool]] = {
        "hub": lambda: hub_process.stop_hub(paths.run_dir),
        "database": lambda: database.stop_database(paths, destroy=purge),
        "broker": lambda: mosquitto.stop_broker(paths.run_dir),
    }
    stopped = []
    for name in reversed(ORDER):
        if name not in components:
            continue
        try:
            if stoppers[name]():
                stopped.append(name)
                progress(f"{name}: stopped")
            else:
                progress(f"{name}: was not running")
        except Exception as exc:  # keep stopping the others; the failure is reported
            progress(f"{name}: could not stop: {exc}")
    return stopped
