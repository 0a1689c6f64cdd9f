"""Handlers of `cityops stack up|down|status` and `cityops demo` (see cloud_hub/cli.py).

Progress goes to stderr; with --json stdout carries exactly one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from cloud_hub.broker.dynsec import BrokerAdminError
from cloud_hub.stack import orchestrator
from cloud_hub.stack.errors import StackError
from cloud_hub.stack.settings import StackSettings


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _settings() -> StackSettings | None:
    try:
        return StackSettings()
    except ValidationError as exc:
        for error in exc.errors():
            field = "CITYOPS_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"{field}: {error['msg']} (got {error.get('input')!r})", file=sys.stderr)
        return None


def _up_text(info: dict[str, Any]) -> str:
    version = f" (TimescaleDB {info['timescaledb_version']})" if info.get("timescaledb_version") else ""
    return "\n".join(
        [
            "CityOps stack is up",
            f"  hub       {info['hub_url']}   API docs {info['docs_url']}",
            f"  broker    mqtt://{info['mqtt_host']}:{info['mqtt_port']}",
            f"  database  {info['database_url']}  {info['database_kind']}{version}",
            f"  admin     {info['admin_user']} / {info['admin_password']}",
            f"  state     {info['state_dir']}  (logs in {info['logs_dir']})",
            "  stop with `cityops stack down`",
        ]
    )


def up_command(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings is None:
        return 2
    try:
        info = orchestrator.bring_up(settings, database_choice=getattr(args, "database", None), progress=_progress)
    except (StackError, BrokerAdminError, OSError, TimeoutError) as exc:
        print(f"cityops stack up failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(info) if getattr(args, "json", False) else _up_text(info), flush=True)
    return 0


def down_command(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings is None:
        return 2
    orchestrator.bring_down(settings, progress=_progress, purge=getattr(args, "purge", False))
    return 0


def status_command(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings is None:
        return 2
    components = orchestrator.component_status(settings)
    if getattr(args, "json", False):
        print(json.dumps({"state_dir": str(settings.state_dir), "components": components}))
        return 0
    print(f"state dir {settings.state_dir}")
    for name, state in components.items():
        if state.get("external"):
            print(f"  {name:9} external (from CITYOPS_* URL)")
        elif state["running"]:
            extra = "".join(f"  {k}={v}" for k, v in state.items() if k not in ("running", "pid", "port") and v)
            print(f"  {name:9} running  pid {state['pid']}  port {state['port']}{extra}")
        else:
            print(f"  {name:9} stopped")
    return 0


def demo_command(args: argparse.Namespace) -> int:
    from cloud_hub.stack.demo import demo_command as run_demo

    return run_demo(args)
