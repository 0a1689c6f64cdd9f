"""Edge-side subcommands of `cityops`: `edge run --config FILE`, `edge detect IMAGE_OR_VIDEO` and `edge eval LABELS`.

Only the standard library is imported here; handlers import the agent (numpy, OpenCV, ONNX Runtime) when run.
"""

from __future__ import annotations

import argparse
import json
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


def run_command(args: argparse.Namespace) -> int:
    from cityops.logs import set_role
    from edge_agent.app import run_agent
    from edge_agent.config import ConfigError
    from edge_agent.models.manifest import ModelIntegrityError

    set_role("edge")
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
