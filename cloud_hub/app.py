"""The hub's composition root: `create_app(settings)` and `cityops hub run`.

Start order (stopped in reverse): wait for the database, migrate, connection pool, admin user, demo seed,
hub rules, grid index, ingest (MQTT consumer with the incident processor). Nothing is created at import time.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import psycopg
from fastapi import FastAPI
from fastapi.routing import APIRoute
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from cityops.logs import set_role
from cloud_hub.api.metrics import RequestMetricsMiddleware
from cloud_hub.api.nul_guard import NulGuardMiddleware
from cloud_hub.api.problems import install_problem_handlers
from cloud_hub.api.request_context import RequestContextMiddleware
from cloud_hub.api.routes import (
    admin_cameras,
    admin_changes,
    admin_districts,
    admin_geo,
    admin_grids,
    admin_rosters,
    admin_rules,
    admin_users,
    auth,
    broker,
    device_control,
    health,
    incidents,
    live,
    modes,
    stats,
    ui,
    work_orders,
)
from cloud_hub.api.routes import cameras as camera_routes
from cloud_hub.api.routes import devices as device_routes
from cloud_hub.api.routes import events as event_routes
from cloud_hub.api.routes import evidence as evidence_routes
from cloud_hub.api.routes import models as model_routes
from cloud_hub.api.routes import reports as report_routes
from cloud_hub.api.routes import webhooks as webhook_routes
from cloud_hub.api.routes import work_order_photos as work_order_photo_routes
from cloud_hub.api.security_headers import SecurityHeadersMiddleware, tile_origin
from cloud_hub.api.web import mount_web
from cloud_hub.auth.redaction import install_secret_redaction
from cloud_hub.auth.users import ensure_user
from cloud_hub.core.config import HubSettings, get_settings
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.live.relay import LiveRelay, relay_for
from cloud_hub.rules.loader import RulesStore
from cloud_hub.scheduler.lifecycle import start_lifecycle
from cloud_hub.seed.demo import seed_demo
from cloud_hub.store.capabilities import Capabilities
from cloud_hub.store.db import create_pool
from cloud_hub.store.migrations import migrate
from cloud_hub.webhooks.worker import start_webhooks

log = logging.getLogger("cloud_hub")

DB_WAIT_S = 60.0


def _where(database_url: str) -> str:
    """host:port/dbname of a database URL, without the password, for log lines."""
    info = conninfo_to_dict(database_url)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def wait_for_database(database_url: str, timeout_s: float = DB_WAIT_S, interval_s: float = 1.0) -> None:
    """Return once the database accepts a connection; raise after `timeout_s` with the last error."""
    deadline = time.monotonic() + timeout_s
    attempt = 0
    while True:
        attempt += 1
        try:
            with psycopg.connect(database_url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            if attempt > 1:
                log.info("database %s is up (attempt %d)", _where(database_url), attempt)
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"database {_where(database_url)} not reachable after {timeout_s:.0f} s: {exc}".strip()
                ) from None
            log.warning("waiting for database %s (attempt %d): %s", _where(database_url), attempt, str(exc).strip())
            time.sleep(interval_s)


@dataclass
class HubRuntime:
    """Everything the hub starts, in start order, so that stop() can undo it in reverse."""

    settings: HubSettings
    pool: ConnectionPool | None = None
    capabilities: Capabilities | None = None
    rules: RulesStore | None = None
    grids: GridDirectory | None = None
    ingest: Any = None  # cloud_hub.ingest.service.IngestService when this process consumes MQTT
    live: LiveRelay | None = None  # the live channel's relay when this process serves it
    _stops: list[Any] = field(default_factory=list)

    def start(self) -> None:
        settings = self.settings
        wait_for_database(settings.database_url, timeout_s=float(settings.db_wait_s))
        report = migrate(settings.database_url)
        self.capabilities = report.capabilities
        if report.applied:
            log.info("migrations applied: %s", ", ".join(report.applied))
        log.info("database features: %s", report.capabilities.describe())
        if report.capabilities.timescaledb_version is None:
            log.warning("running on plain PostgreSQL without TimescaleDB: events are ordinary tables")

        # The ingest writers hold a connection each while storing; the API keeps db_pool_max beside them.
        writers = int(settings.ingest_writers) if settings.ingest else 0
        self.pool = create_pool(settings, max_size=int(settings.db_pool_max) + writers)
        self._stops.append(self.pool.close)
        self.pool.wait(timeout=30.0)
        with self.pool.connection() as conn:
            ensure_user(conn, settings.admin_user, settings.admin_password.get_secret_value(), "admin", "Administrator")
            if settings.demo_seed:
                seed_demo(conn)
        self.rules = RulesStore.from_settings_dir(settings.rules_dir)
        log.info("hub rules loaded from %s", self.rules.directory)
        with self.pool.connection() as conn:
            self.grids = GridDirectory.load(conn)
        log.info("grid index: %d grids", len(self.grids.index))
        self._stops.append(start_lifecycle(settings, report.capabilities))  # policies, rollups, retention
        if settings.scheduler:  # outgoing webhooks: a sender thread of its own, never on the ingest or API path
            self._stops.append(start_webhooks(self.pool))
        if settings.live:
            self.live = relay_for(settings.database_url)
            self.live.start()
            self._stops.append(self.live.stop)
            log.info("live channel relay started")

        if settings.ingest:
            # Imported only here: an API-only replica (ingest off) never loads the MQTT stack.
            from cloud_hub.ingest.processors import build_processors
            from cloud_hub.ingest.service import IngestService

            # The same processors as the ingest worker processes (incidents, rollup markers, telemetry rules).
            wired = build_processors(settings, self.pool, self.grids, self.rules, report.capabilities)
            self.ingest = IngestService(
                settings,
                self.pool,
                processors=wired.event_processors,
                telemetry_processors=wired.telemetry_processors,
            )
            self.ingest.start()
            self._stops.append(self.ingest.stop)
            for job in wired.background_jobs:  # e.g. the telemetry missing-data watch
                job.start()
                self._stops.append(job.stop)
            log.info("ingest started (MQTT %s:%d)", settings.mqtt.host, settings.mqtt.port)
        else:
            from cloud_hub.rules.watch import RulesWatcher

            # An API-only replica routes citizens' reports and reviews orders with the same rules: follow edits too.
            watcher = RulesWatcher([(self.rules.directory, self.rules.reload)], interval_s=float(settings.rules_poll_s))
            watcher.start()
            self._stops.append(watcher.stop)
            log.info("ingest disabled in this process (API only)")

    def stop(self) -> None:
        while self._stops:
            stop = self._stops.pop()
            try:
                stop()
            except Exception:  # keep stopping the rest; the failure is logged with its traceback
                log.exception("error while stopping %s", getattr(stop, "__qualname__", stop))


def _operation_id(route: APIRoute) -> str:
    # Stable OpenAPI operation ids (clients generated from the schema keep their method names).
    return route.name


def create_app(settings: HubSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = HubRuntime(settings)
        try:
            await anyio.to_thread.run_sync(runtime.start)
        except BaseException:
            await anyio.to_thread.run_sync(runtime.stop)
            raise
        app.state.pool = runtime.pool
        app.state.capabilities = runtime.capabilities
        app.state.rules = runtime.rules
        app.state.grids = runtime.grids
        app.state.ingest = runtime.ingest
        app.state.live = runtime.live
        log.info("hub ready on %s", settings.hub_url)
        try:
            yield
        finally:
            app.state.ingest = None
            app.state.live = None
            app.state.pool = None
            await anyio.to_thread.run_sync(runtime.stop)

    app = FastAPI(
        title="CityOps hub",
        version="1",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,  # Swagger UI and ReDoc come from the hub's own files (cloud_hub.api.web), not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.pool = None
    app.state.live = None
    app.add_middleware(NulGuardMiddleware)  # innermost: its 400s are counted and get the security headers
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, extra_img_origin=tile_origin(settings.map_tiles_url))
    app.add_middleware(RequestContextMiddleware)  # outermost: every log line of the request carries its id
    for module in (health, auth, event_routes, incidents, work_orders, device_routes, evidence_routes, modes, stats):
        app.include_router(module.router)
    app.include_router(work_order_photo_routes.router)  # officers' photos of the place, evidence of transitions
    app.include_router(camera_routes.router)  # the map and fleet view of cameras
    app.include_router(live.router)  # server-sent events (cloud_hub.live)
    app.include_router(ui.router)
    for module in (device_control, model_routes):  # remote control of devices, model files they fetch
        app.include_router(module.router)
    app.include_router(broker.router)  # EMQX's HTTP authentication and authorisation (Mosquitto needs none)
    for module in (admin_districts, admin_grids, admin_geo, admin_rosters, admin_users, admin_cameras, admin_rules,
                   admin_changes):  # fmt: skip
        app.include_router(module.router)
    for module in (report_routes, webhook_routes):  # citizens' reports (12345 hotline), outgoing webhooks
        app.include_router(module.router)
    install_problem_handlers(app)  # RFC 9457 application/problem+json for every error
    mount_web(app, settings.web_dir)  # last: the apps' history routes must not shadow the API
    return app


def run_command(args: argparse.Namespace) -> int:
    """`cityops hub run`: serve the API (and consume MQTT unless --no-ingest) in the foreground."""
    import uvicorn
    from pydantic import ValidationError

    set_role("hub")  # logging itself is set up by `cityops` (--log-format)
    install_secret_redaction()  # no ?access_token=... (EventSource) or other query-string secrets in the logs
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"hub settings are invalid (CITYOPS_* environment variables):\n{exc}", file=sys.stderr)
        return 2
    overrides: dict[str, Any] = {}
    if getattr(args, "host", None):
        overrides["http_host"] = args.host
    if getattr(args, "port", None):
        overrides["http_port"] = args.port
    if getattr(args, "no_ingest", False):
        overrides["ingest"] = False
    settings = settings.model_copy(update=overrides)
    # Live streams never end by themselves: without a bound, a stopping replica would wait for its browsers forever.
    # After the grace period they are cut, and the browsers resume on another replica from their last event id.
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
    return 0
