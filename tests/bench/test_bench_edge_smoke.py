"""The edge benchmark in a tiny mode, so that it cannot rot: every leg but the Ultralytics peer, a few frames.

Needs the shared models and footage (../shared); never the training venv (--no-peer).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared_assets import SHARED, require_shared

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _shared_assets() -> None:
    require_shared(SHARED / "models" / "yolox_nano.onnx", SHARED / "media" / "mmdet_demo.mp4")


def test_tiny_bench_run_reports_every_leg_and_the_ratios() -> None:
    cmd = [sys.executable, "-m", "bench.edge.pipeline_bench", "--shared", str(SHARED), "--no-peer"]
    cmd += ["--models", "yolox_nano", "--cameras", "1,2", "--rounds", "1", "--seconds", "0.3", "--baseline"]
    # Generous: seven legs with model loads and warm-ups take minutes on a loaded 2-core box.
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    measured = {r["variant"]: r for r in records if r["type"] == "measurement"}
    assert set(measured) == {
        "yolox_nano/ort_session",
        "yolox_nano/detector",
        "yolox_nano/detector_2cam",  # the bare model fed 2 cameras' frames as the agent's batcher runs them
        "yolox_nano/pipeline_1cam",
        "yolox_nano/pipeline_2cam",
        "yolox_nano/pipeline_1cam_inline",  # --baseline: the same pipeline before the integrity budget/evidence thread
        "yolox_nano/pipeline_2cam_inline",
    }
    assert all(r["frames"] > 0 and r["fps"] > 0 for r in measured.values())
    assert measured["yolox_nano/pipeline_2cam"]["cameras"] == 2
    assert measured["yolox_nano/pipeline_1cam"]["batch_sizes"] is None  # one camera: no batcher, as in the agent
    assert set(measured["yolox_nano/pipeline_2cam"]["batch_sizes"]) <= {"1", "2"}
    summary = records[-1]
    assert summary["type"] == "summary" and summary["rounds"] == 1 and summary["ultralytics"] is None
    assert summary["variants"]["yolox_nano/detector"]["median_fps"] == measured["yolox_nano/detector"]["fps"]
    ratio = summary["ratios"]["yolox_nano: pipeline_1cam / detector"]["of_medians"]
    expected = measured["yolox_nano/pipeline_1cam"]["fps"] / measured["yolox_nano/detector"]["fps"]
    assert ratio == pytest.approx(expected, abs=0.002)
    assert "yolox_nano: pipeline_2cam / pipeline_2cam_inline" in summary["ratios"]
    assert "yolox_nano: pipeline_2cam / detector_2cam" in summary["ratios"]
    assert "yolox_nano: pipeline_2cam / detector" in summary["ratios"]


def test_bad_arguments_are_refused_with_the_reason() -> None:
    cmd = [sys.executable, "-m", "bench.edge.pipeline_bench", "--shared", str(SHARED), "--source", "media/nope.mp4"]
    done = subprocess.run([*cmd, "--no-peer"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "nope.mp4: no such file" in done.stderr
    help_text = subprocess.run(
        [sys.executable, "-m", "bench.edge.pipeline_bench", "--help"], cwd=REPO, capture_output=True, text=True
    )
    assert help_text.returncode == 0 and "--cameras" in help_text.stdout
