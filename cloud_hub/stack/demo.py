"""`cityops demo`: the whole system on defaults, from a street picture to dispatched work orders (one per parked
car, shared out between the two officers on duty in the street's grid; reported all, with who got each)."""

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
SETTLE_S = 8.0  # after the first work order, how long without another before the demo reports them all


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


def find_work_orders(
    work_orders: Sequence[dict[str, Any]],
    incidents: Sequence[dict[str, Any]],
    baseline_ids: set[int],
    since: datetime,
) -> list[Dispatched]:
    """Every work order of this demo run: the new ones (one per parked car), then those of earlier runs whose
    incidents this run's detections refreshed (the same cars again: the hub merges them, no new orders)."""
    refreshed = {i["id"] for i in incidents if datetime.fromisoformat(str(i["last_seen"])) >= since}
    new = [Dispatched(o, new=True) for o in work_orders if o["id"] not in baseline_ids]
    again = [
        Dispatched(o, new=False) for o in work_orders if o["id"] in baseline_ids and o.get("incident_id") in refreshed
    ]
    return sorted(new, key=lambda d: d.work_order["id"]) + sorted(again, key=lambda d: d.work_order["id"])


def _order_line(order: dict[str, Any]) -> str:
    return (
        f"    #{order['id']:<5} {order['kind']}/{order.get('subtype') or '-'}  {order.get('severity')}  "
        f"{order['status']}  officer {order.get('assignee') or '- (commander queue)'}  "
        f"grid {order.get('grid_id') or '-'}  deadline {order.get('due_at') or '-'}"
    )


def summary(
    info: dict[str, Any], found: Dispatched | Sequence[Dispatched], logins: Sequence[dict[str, str]], edge_log: Path
) -> str:
    """What the demo started and every work order this run produced, with who got it."""
    orders = [found] if isinstance(found, Dispatched) else list(found)
    new = [d.work_order for d in orders if d.new]
    again = [d.work_order for d in orders if not d.new]
    per_officer: dict[str, int] = {}
    for order in new + again:
        who = order.get("assignee") or "commander queue"
        per_officer[who] = per_officer.get(who, 0) + 1
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
        f"  work orders created this run: {len(new)} (one per situation, e.g. each parked car)",
        *(_order_line(o) for o in new),
    ]
    if again:
        lines += [
            f"  work orders of an earlier run whose situations are seen again (merged, not new): {len(again)}",
            *(_order_line(o) for o in again),
        ]
    lines += [
        "  by assignee: " + ", ".join(f"{who} {n}" for who, n in sorted(per_officer.items())),
        f"  {info['hub_url']}/api/v1/work-orders",
    ]
    return "\n".join(lines)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _wait_for_work_orders(
    api: HubApi,
    baseline: set[int],
    since: datetime,
    timeout_s: float,
    edge_alive: Callable[[], bool],
    settle_s: float = SETTLE_S,
) -> list[Dispatched]:
    """Every work order of this run, once the first has appeared and no other came for `settle_s` (the cars of one
    picture start within seconds of each other); empty when none came within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last_error: str | None = None
    found: list[Dispatched] = []
    quiet_since = 0.0
    while time.monotonic() < deadline:
        try:
            orders = api.list("/api/v1/work-orders", limit=1000)
            incidents = api.list("/api/v1/incidents", limit=1000)
        except HubApiError as exc:  # keep polling: the hub may recover; the error is shown if it never does
            if str(exc) != last_error:
                _progress(f"hub: {exc}")
            last_error = str(exc)
        else:
            now_found = find_work_orders(orders, incidents, baseline, since)
            if [d.work_order["id"] for d in now_found] != [d.work_order["id"] for d in found]:
                found, quiet_since = now_found, time.monotonic()
                if found:
                    _progress(f"hub: {len(found)} work order(s) so far; waiting {settle_s:.0f} s for more")
            elif found and time.monotonic() - quiet_since >= settle_s:
                return found
        if not edge_alive():
            raise StackError("the edge agent exited")
        time.sleep(1.0)
    return found


def demo_command(args: argparse.Namespace) -> int:
    from cloud_hub.seed.demo import DEMO_CAMERA_ID, DEMO_DEVICE_ID, DEMO_LOCATION, DEMO_LOGINS, DEMO_SECOND_SHIFT

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
            # Two officers on duty in the demo street's grid, so its cars are shared out (load balancing).
            if api.ensure_roster(DEMO_SECOND_SHIFT):
                _progress(f"hub: {DEMO_SECOND_SHIFT['username']} also on duty in {DEMO_SECOND_SHIFT['grid_id']}")
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
            _progress(f"edge: agent started (pid {edge_pid}, log {edge_log}); waiting for work orders")
            found = _wait_for_work_orders(
                api, baseline, since, args.timeout, lambda: edge_pid is not None and pid_alive(edge_pid)
            )
        finally:
            api.close()
        if not found:
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
