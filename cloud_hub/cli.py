"""Hub-side subcommands of `cityops`: stack, demo, hub, db, audit, device.

Only the standard library is imported here; each handler imports its implementation when it runs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _lazy(target: str) -> Callable[[argparse.Namespace], int]:
    """`module:function`, imported only when the subcommand runs."""
    module_name, func_name = target.split(":")

    def run(args: argparse.Namespace) -> Any:
        return getattr(importlib.import_module(module_name), func_name)(args)

    return run


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="run the whole system on defaults: broker, database, hub and one edge agent on real footage",
        description="Start the local stack (Mosquitto, PostgreSQL/TimescaleDB, hub), provision a demo edge box that "
        "plays a street picture through YOLOX-Nano with a no-parking zone, wait for the first dispatched work order "
        "and print where to look. Ctrl-C stops everything this command started and nothing else.",
    )
    demo.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the first work order")
    demo.add_argument("--exit-after-dispatch", action="store_true", help="stop once the work order is dispatched")
    demo.set_defaults(func=_lazy("cloud_hub.stack.commands:demo_command"))

    stack = sub.add_parser("stack", help="start, stop and inspect the local services and the hub")
    stack_sub = stack.add_subparsers(dest="stack_command", metavar="ACTION", required=True)
    up = stack_sub.add_parser(
        "up",
        help="start broker, database and hub in the background (idempotent)",
        description="Start whatever is not running: Mosquitto with dynamic security, PostgreSQL with TimescaleDB "
        "(plain PostgreSQL when TimescaleDB cannot be had), and the hub. CITYOPS_DATABASE_URL / CITYOPS_MQTT_URL "
        "point at existing services instead. State lives in CITYOPS_STATE_DIR (default ~/.local/state/cityops).",
    )
    _add_json(up)
    up.add_argument(
        "--database",
        choices=["auto", "timescaledb", "postgres"],
        default=None,
        help="which database server to run (default: CITYOPS_STACK_DB or auto = TimescaleDB, else PostgreSQL)",
    )
    up.set_defaults(func=_lazy("cloud_hub.stack.commands:up_command"))
    down = stack_sub.add_parser("down", help="stop what `stack up` started, and nothing else")
    down.add_argument(
        "--purge", action="store_true", help="also delete the database's data (a throwaway stack: tests, trials)"
    )
    down.set_defaults(func=_lazy("cloud_hub.stack.commands:down_command"))
    status = stack_sub.add_parser("status", help="show each component's state")
    _add_json(status)
    status.set_defaults(func=_lazy("cloud_hub.stack.commands:status_command"))

    hub = sub.add_parser("hub", help="run the hub")
    hub_sub = hub.add_subparsers(dest="hub_command", metavar="ACTION", required=True)
    run = hub_sub.add_parser(
        "run",
        help="serve the API and consume MQTT in the foreground (settings from CITYOPS_* variables)",
    )
    run.add_argument("--host", default=None, help="bind address (default CITYOPS_HTTP_HOST)")
    run.add_argument("--port", type=int, default=None, help="port (default CITYOPS_HTTP_PORT)")
    run.add_argument("--no-ingest", action="store_true", help="API only; no MQTT consumer in this process")
    run.set_defaults(func=_lazy("cloud_hub.app:run_command"))
    ingest = hub_sub.add_parser(
        "ingest",
        help="consume MQTT into the database with N worker processes (no API), restarting crashed workers",
        description="Each worker is its own MQTT consumer in the shared subscription with its own database "
        "connections. Run it beside `cityops hub run --no-ingest`, on as many hosts as needed.",
    )
    ingest.add_argument("--workers", type=int, default=None, help="worker processes (default: number of CPUs)")
    ingest.add_argument("--max-restarts", type=int, default=5, help="restarts of a worker per window before giving up")
    ingest.add_argument("--restart-window", type=float, default=60.0, help="seconds of the restart-loop window")
    ingest.set_defaults(func=_lazy("cloud_hub.ingest.supervisor:ingest_command"))

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    migrate = db_sub.add_parser("migrate", help="apply pending migrations (idempotent) and report server features")
    migrate.add_argument("--database-url", default=None, help="default CITYOPS_DATABASE_URL")
    _add_json(migrate)
    migrate.set_defaults(func=_lazy("cloud_hub.store.migrations:migrate_command"))

    audit = sub.add_parser("audit", help="the tamper-evident audit log (docs/audit.md)")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = audit_sub.add_parser(
        "verify",
        help="recompute every chain's hashes; exit 1 naming the first changed, removed or inserted entry per chain",
        description="Walks each audit chain in seq order and recomputes every entry's SHA-256. Exit 0: intact (a "
        "summary with each chain's head); 1: tampering found, the first changed, removed or inserted entry of each "
        "affected chain named; 2: the check could not run.",
    )
    verify.add_argument("--database-url", default=None, help="default CITYOPS_DATABASE_URL")
    verify.add_argument("--chain", default=None, metavar="NAME", help="only this chain (e.g. admin, work_orders/03)")
    verify.add_argument(
        "--anchor",
        type=Path,
        default=None,
        metavar="FILE",
        help="a saved `cityops audit head --json`: its entries must still be there with the same hashes",
    )
    _add_json(verify)
    verify.set_defaults(func=_lazy("cloud_hub.audit.commands:verify_command"))
    head = audit_sub.add_parser("head", help="each chain's latest (seq, hash), to anchor outside the database")
    head.add_argument("--database-url", default=None, help="default CITYOPS_DATABASE_URL")
    _add_json(head)
    head.set_defaults(func=_lazy("cloud_hub.audit.commands:head_command"))

    device = sub.add_parser("device", help="edge boxes and sensors")
    device_sub = device.add_subparsers(dest="device_command", metavar="ACTION", required=True)
    provision = device_sub.add_parser(
        "provision",
        help="register a device, create its broker credentials and ACL, print them",
        description="Registers the device with the hub (admin login from the stack state or CITYOPS_ADMIN_USER / "
        "CITYOPS_ADMIN_PASSWORD, hub from CITYOPS_HUB_URL) and prints device_id, mqtt_host, mqtt_port, mqtt_tls, "
        "username, password and hub_url (--json: also mqtt_ca_pem, the broker's CA when it is private). "
        "Provisioning an existing device issues a new secret; its seq counter is kept.",
    )
    provision.add_argument("--id", dest="device_id", required=True, help="device id: 3-64 chars of [A-Za-z0-9_.-]")
    provision.add_argument("--kind", choices=["edge", "sensor"], required=True)
    provision.add_argument("--lon", type=float, default=None)
    provision.add_argument("--lat", type=float, default=None)
    _add_json(provision)
    provision.set_defaults(func=_lazy("cloud_hub.devices.commands:provision_command"))
