"""The evidence-bandwidth bench runs the agent's pipeline on the demo camera and reports both policies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.shared_assets import SHARED, require_shared

REPO = Path(__file__).resolve().parents[2]


def test_bench_reports_pictures_and_bytes_per_camera_hour_for_each_policy() -> None:
    require_shared(SHARED / "models" / "yolox_nano.onnx", SHARED / "models" / "face_detection_yunet_2023mar.onnx",
                   SHARED / "media" / "mmdet_demo.jpg")  # fmt: skip
    cmd = [sys.executable, "-m", "bench.edge.evidence_bandwidth", "--shared", str(SHARED), "--minutes", "3"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    always, changed, ratio = (json.loads(line) for line in done.stdout.splitlines())
    assert (always["policy"], changed["policy"]) == ("always", "changed")
    assert always["events"] == changed["events"], "the policy changes pictures, never events"
    assert always["events"]["start"] >= 1 and always["events"]["update"] >= always["events"]["start"]
    assert always["pictures"] == sum(always["events"].values())
    assert changed["pictures"] < always["pictures"]
    assert changed["updates_without_picture"] == always["pictures"] - changed["pictures"]
    assert ratio["ratio"] == "always/changed" and ratio["bytes"] > 1
