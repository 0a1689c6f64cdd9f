"""`cityops demo`: the whole system on defaults, from a street picture to a dispatched work order."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from cloud_hub.stack import orchestrator
from cloud_hub.stack.edge_config import edge_config, write_edge_config
from cloud_hub.stack.errors import StackError
from cloud_hub.stack.hub_api import HubApi, HubApiError
from cloud_hub.stack.processes import log_tail, pid_alive, spawn_detached, terminate
from cloud_hub.stack.settings import StackSettings

SHARED_DIR = orchestrator.REPO_ROOT.parent / "shared"
DEMO_SOURCE = SHARED_DIR / "media" / "mmdet_demo.jpg"
MODELS_DIR = SHARED_DIR / "models"
DEMO_MODEL = "yolox_nano"
DEMO_RULES = orchestrator.REPO_ROOT / "rules" / "edge" / "demo-street.yaml"


def missing_inputs(source: Path = DEMO_SOURCE, models_dir: Path = MODELS_DIR, rules: Path = DEMO_RULES) -> list[str]:
    """What the demo needs from outside the repository and cannot find, one line each."""
    problems = []
    if not source.is_file():
        problems.append(f"demo footage missing: expected {source} (the shared media folder next to the repository)")
    if not (models_dir / f"{DEMO_MODEL}.onnx").is_file():
        problems.append(f"model missing: expected {models_dir / (DEMO_MODEL + '.onnx')} (the shared models folder)")
    if not rules.is_file():
        problems.append(f"edge rules missing: expected {rules}")
    return problems


@dataclass(frozen=True, slots=True)
class Dispatched:
    work_order: dict[str, Any]
    new: bool  # False: an earlier work order whose incident this run's detections refreshed


def find_dispatched(
    work_orders: Sequence[dict[str, Any]],
    incidents: Sequence[dict[str, Any]],
    baseline_ids: set[int],
    since: datetime,
) -> Dispatched | None:
    """The work order this demo run produced: a new one, or else the one of an incident seen again since the
    start (an earlier run's incident with the same key is merged, not reopened)."""
    for order in work_orders:
        if order["id"] not in baseline_ids:
            return Dispatched(order, new=True)
    refreshed = {i["id"] for i in incidents if datetime.fromisoformat(str(i["last_seen"])) >= since}
    for order in work_orders:
        if order.get("incident_id") in refreshed:
            return Dispatched(order, new=False)
    return None


def summary(info: dict[str, Any], found: Dispatched, logins: Sequence[dict[str, str]], edge_log: Path) -> str:
    order = found.work_order
    lines = [
        "",
        "CityOps demo is running",
        f"  hub            {info['hub_url']}",
        f"  API docs       {info['docs_url']}",
        f"  broker         mqtt://{info['mqtt_host']}:{info['mqtt_port']}",
        f"  database       {info['database_url']} ({info['database_kind']})",
        f"  edge log       {edge_log}",
        "  logins (user / password / role):",
        f"    {info['admin_user']} / {info['admin_password']} / admin",
        *(f"    {u['username']} / {u['password']} / {u['role']}" for u in logins),
        "  work order" + ("" if found.new else " (of an incident from an earlier run, seen again now)") + ":",
        f"    id {order['id']}  kind {order['kind']}/{order.get('subtype') or '-'}  severity {order.get('severity')}",
        f"    status {order['status']}  officer {order.get('assignee') or '-'}  grid {order.get('grid_id') or '-'}",
        f"    deadline {order.get('due_at') or '-'}",
        f"    {info['hub_url']}/api/v1/work-orders/{order['id']}",
    ]
    return "\n".join(lines)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _wait_for_work_order(
    api: HubApi, baseline: set[int], since: datetime, timeout_s: float, edge_alive: Callable[[], bool]
) -> Dispatched | None:
    deadline = time.monotonic() + timeout_s
    last_error: str | None = None
    while time.monotonic() < deadline:
        try:
            orders, incidents = api.list("/api/v1/work-orders"), api.list("/api/v1/incidents")
        except HubApiError as exc:  # keep polling: the hub may recover; the error is shown if it never does
            if str(exc) != last_error:
                _progress(f"hub: {exc}")
            last_error = str(exc)
        else:
            found = find_dispatched(orders, incidents, baseline, since)
            if found is not None:
                return found
        if not edge_alive():
            raise StackError("the edge agent exited")
        time.sleep(1.0)
    return None


def demo_command(args: argparse.Namespace) -> int:
    from cloud_hub.seed.demo import DEMO_CAMERA_ID, DEMO_DEVICE_ID, DEMO_LOCATION, DEMO_LOGINS

    problems = missing_inputs()
    if problems:
        print("cityops demo cannot run:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll would bury the summary
    settings = StackSettings()
    paths = orchestrator.stack_paths(settings)
    started: list[str] = []
    edge_pid: int | None = None
    edge_log = paths.log_file(DEMO_DEVICE_ID)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` cleans up like Ctrl-C
    try:
        info = orchestrator.bring_up(settings, progress=_progress, started=started)
        api = HubApi(info["hub_url"])
        try:
            api.login(info["admin_user"], info["admin_password"])
            credentials = api.provision_device(DEMO_DEVICE_ID, "edge", DEMO_LOCATION["lon"], DEMO_LOCATION["lat"])
            _progress(f"edge: provisioned {DEMO_DEVICE_ID}")
            config_file = paths.edge_dir / f"{DEMO_DEVICE_ID}.yaml"
            write_edge_config(
                config_file,
                edge_config(
                    device_id=DEMO_DEVICE_ID,
                    credentials=credentials,
                    data_dir=paths.edge_dir / DEMO_DEVICE_ID,
                    models_dir=MODELS_DIR,
                    camera_id=DEMO_CAMERA_ID,
                    source=DEMO_SOURCE,
                    rules=DEMO_RULES,
                    location=DEMO_LOCATION,
                    model=DEMO_MODEL,
                ),
            )
            baseline = {order["id"] for order in api.list("/api/v1/work-orders", limit=1000)}
            since = datetime.now().astimezone()
            argv = [sys.executable, "-m", "cityops.cli", "edge", "run", "--config", str(config_file)]
            edge_pid = spawn_detached(argv, edge_log, cwd=orchestrator.REPO_ROOT).pid
            _progress(f"edge: agent started (pid {edge_pid}, log {edge_log}); waiting for a work order")
            found = _wait_for_work_order(
                api, baseline, since, args.timeout, lambda: edge_pid is not None and pid_alive(edge_pid)
            )
        finally:
            api.close()
        if found is None:
            print(
                f"no work order within {args.timeout:.0f} s; last lines of {edge_log}:\n{log_tail(edge_log)}",
                file=sys.stderr,
            )
            return 1
        print(summary(info, found, DEMO_LOGINS, edge_log), flush=True)
        if args.exit_after_dispatch:
            return 0
        print("\nPress Ctrl-C to stop the demo.", flush=True)
        while pid_alive(edge_pid):
            time.sleep(1.0)
        print(f"the edge agent exited; last lines of {edge_log}:\n{log_tail(edge_log)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except StackError as exc:
        print(f"cityops demo failed: {exc}", file=sys.stderr)
        if edge_pid is not None:
            print(f"last lines of {edge_log}:\n{log_tail(edge_log)}", file=sys.stderr)
        return 1
    finally:
        if edge_pid is not None and terminate(edge_pid):
            _progress("edge: stopped")
        if started:
            orchestrator.bring_down(settings, started, progress=_progress)
