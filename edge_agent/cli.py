"""Edge-side subcommands of `cityops`: `edge run --config FILE`, `edge detect IMAGE_OR_VIDEO`, `edge eval LABELS` and
`edge provision --hub URL --token TOKEN` (or `--qr TEXT`).

Only the standard library is imported here; handlers import the agent (numpy, OpenCV, ONNX Runtime) when run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    edge = sub.add_parser("edge", help="the edge agent: run it, or try a detector on a picture or video")
    edge_sub = edge.add_subparsers(dest="edge_command", metavar="ACTION", required=True)

    run = edge_sub.add_parser(
        "run",
        help="run the agent in the foreground until SIGTERM/Ctrl-C",
        description="Capture the configured cameras, detect, track, apply zone rules, record events durably and "
        "send them to the hub over MQTT (evidence over HTTP). CITYOPS_EDGE_MQTT_URL / CITYOPS_EDGE_HUB_URL "
        "override mqtt_url / hub_url from the file.",
    )
    run.add_argument("--config", required=True, type=Path, help="edge agent YAML (see edge_agent/examples/)")
    run.add_argument("--log-file", type=Path, help="also log to this file, rotated by size (stderr goes on)")
    run.add_argument("--log-max-bytes", type=int, help="rotate at this size (default CITYOPS_LOG_MAX_BYTES or 10 MB)")
    run.add_argument("--log-backups", type=int, help="rotated files kept (default CITYOPS_LOG_BACKUPS or 5)")
    run.set_defaults(func=run_command)

    detect = edge_sub.add_parser(
        "detect",
        help="run a detector on an image or the first frame of a video and print the detections",
    )
    detect.add_argument("source", type=Path, metavar="IMAGE_OR_VIDEO")
    detect.add_argument("--model", default="yolox_nano", help="model name from models/manifest.yaml")
    detect.add_argument("--models-dir", type=Path, default=None, help="default: ../shared/models beside the checkout")
    detect.add_argument("--threshold", type=float, default=0.25, help="minimum score")
    detect.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    detect.set_defaults(func=detect_command)

    evaluate = edge_sub.add_parser(
        "eval",
        help="replay a labelled set of clips through the pipeline and score its events",
        description="Replay each clip of LABELS (e.g. bench/event_quality/labels.yaml) through the agent's own "
        "pipeline on video time, and print event precision, recall, F1, start-time error and duplicates per "
        "analytic and footage kind, then one JSON line.",
    )
    evaluate.add_argument("labels", type=Path, metavar="LABELS")
    evaluate.add_argument("--only", action="append", metavar="CLIP", help="replay only this clip (repeatable)")
    evaluate.add_argument("--models-dir", type=Path, default=None, help="default: ../shared/models beside the checkout")
    evaluate.add_argument("--media-dir", type=Path, default=None, help="default: ../shared/media beside the checkout")
    evaluate.add_argument("--json", action="store_true", help="print only the JSON line")
    evaluate.set_defaults(func=eval_command)

    prov = edge_sub.add_parser(
        "provision",
        help="fetch this box's configuration from the hub with a one-time token, then start the agent",
        description="Redeem a one-time provisioning token (the technician app shows it and its QR code) at the hub: "
        "the hub issues a new device secret and answers the whole configuration, written atomically with mode 0600 "
        "in a 0700 folder. Then the agent starts: by default this process becomes `cityops edge run --config "
        "PATH`; --systemd enables and starts the cityops-edge unit instead; --no-start only writes the file.",
    )
    source = prov.add_mutually_exclusive_group(required=True)
    source.add_argument("--token", help="the one-time token (with --hub)")
    source.add_argument("--qr", metavar="TEXT", help="the scanned `cityops:2:` code (carries hub and token)")
    prov.add_argument("--hub", help="hub URL, https://... (needed with --token)")
    prov.add_argument("--config", type=Path, default=None, help="where to write it (default /etc/cityops/edge.yaml)")
    prov.add_argument("--site", type=Path, help="YAML with this box's `cameras:` and optional sections to add")
    prov.add_argument("--force", action="store_true", help="replace an existing config")
    prov.add_argument("--allow-http", action="store_true", help="allow a plain http hub (trusted lab network only)")
    prov.add_argument("--hub-ca", metavar="PEM", help="CA file to verify the hub's https certificate")
    start = prov.add_mutually_exclusive_group()
    start.add_argument("--systemd", action="store_true", help="enable and (re)start the cityops-edge unit")
    start.add_argument("--no-start", action="store_true", help="only write the configuration")
    prov.set_defaults(func=provision_command)


def run_command(args: argparse.Namespace) -> int:
    from cityops.logs import set_role
    from edge_agent.app import run_agent
    from edge_agent.config import ConfigError
    from edge_agent.models.manifest import ModelIntegrityError

    set_role("edge")
    if args.log_file:
        from cityops.logs import add_rotating_file, rotation_settings

        try:
            add_rotating_file(args.log_file, *rotation_settings(args.log_max_bytes, args.log_backups))
        except (ValueError, OSError) as exc:
            print(f"error: --log-file {args.log_file}: {exc}", file=sys.stderr)
            return 2
    try:
        return run_agent(args.config)
    except (ConfigError, ModelIntegrityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def detect_command(args: argparse.Namespace) -> int:
    from edge_agent.config import ConfigError
    from edge_agent.detect_once import detect_file, format_text
    from edge_agent.models.manifest import ModelIntegrityError

    try:
        result = detect_file(args.source, args.model, args.models_dir, args.threshold)
    except (ConfigError, ModelIntegrityError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else format_text(result))
    return 0


def eval_command(args: argparse.Namespace) -> int:
    from edge_agent.config import ConfigError
    from edge_agent.evaluation.labels import LabelsError
    from edge_agent.evaluation.replay import evaluate, format_table, summary
    from edge_agent.models.manifest import ModelIntegrityError

    try:
        results = evaluate(args.labels, args.only, args.models_dir, args.media_dir)
    except (LabelsError, ConfigError, ModelIntegrityError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.json:
        print(format_table(results))
    print(json.dumps(summary(results)))
    return 0


def provision_command(args: argparse.Namespace) -> int:
    from edge_agent.provision import DEFAULT_CONFIG, ProvisionError, Target, parse_qr, provision

    config_path: Path = args.config or DEFAULT_CONFIG
    try:
        if args.qr:
            target = parse_qr(args.qr)
        elif not args.hub:
            raise ProvisionError("--token needs --hub URL (or give the scanned code with --qr)")
        else:
            target = Target(args.hub, args.token)
        site = _read_site(args.site) if args.site else None
        config = provision(
            target, config_path, allow_http=args.allow_http, force=args.force, site=site, cafile=args.hub_ca
        )
    except ProvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"provisioned {config.get('device_id')}: wrote {config_path} (mode 0600)")
    if not config.get("cameras"):
        print(f"note: {config_path} lists no cameras yet; the agent refuses to start until `cameras:` is filled in")
    if args.no_start:
        return 0
    if args.systemd:
        # restart, not start: a re-provisioned box must drop the old secret's running agent
        for action in ("enable", "restart"):
            if subprocess.run(["systemctl", action, "cityops-edge"], check=False).returncode != 0:
                print(f"error: systemctl {action} cityops-edge failed (see above)", file=sys.stderr)
                return 1
        return 0
    sys.stdout.flush()
    argv = [sys.executable, "-m", "cityops.cli", "edge", "run", "--config", str(config_path)]
    os.execv(sys.executable, argv)  # this process becomes the agent (a supervisor sees one process)
    return 0  # not reached


def _read_site(path: Path) -> dict:
    from edge_agent.config import ConfigError, read_yaml_mapping
    from edge_agent.provision import ProvisionError

    try:
        return read_yaml_mapping(path)
    except (ConfigError, OSError) as exc:
        raise ProvisionError(f"site file {path}: {exc}") from None
