"""Event quality on the full labelled set: `cityops edge eval` over every clip of bench/event_quality/labels.yaml.

Replays each clip through the agent's own CameraPipeline (detector, ByteTrack, parking analytic, camera integrity)
on video time and prints one JSON object: per clip and per (analytic, footage kind) precision, recall, F1, start-time
error and duplicates, with the wall time and the box. The figures go to docs/benchmarks.md ("Event quality").

    .venv/bin/python -m bench.edge.event_quality
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SHARED = REPO.parent / "shared"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.edge.event_quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--labels", type=Path, default=REPO / "bench" / "event_quality" / "labels.yaml")
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared models/media folder")
    p.add_argument("--only", action="append", metavar="CLIP", help="only these clips (default: all)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from edge_agent.evaluation.replay import evaluate, summary

    started = time.perf_counter()
    results = evaluate(args.labels, args.only, args.shared / "models", args.shared / "media")
    report = {
        "bench": "event_quality",
        "labels": str(args.labels.relative_to(REPO)) if args.labels.is_relative_to(REPO) else str(args.labels),
        "wall_s": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        **summary(results),
    }
    json.dump(report, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
