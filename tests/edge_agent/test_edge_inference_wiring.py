"""The `inference:` config section, and how pipeline and agent use a batching detector (no lock across it, model
updates through it, closed at stop)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from edge_testkit import MODELS_DIR, FakeLink, FakeUploader, shared_file
from prometheus_client import generate_latest

from edge_agent.app import EdgeAgent
from edge_agent.capture.sources import Frame
from edge_agent.config import CameraConfig, ConfigError, InferenceConfig, load_config, parse_config
from edge_agent.detections import Detections
from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.detectors.base import OnnxDetector
from edge_agent.detectors.batcher import BatcherClosed, InferenceBatcher
from edge_agent.health import LatencyWindow
from edge_agent.models.manifest import ModelStore, load_manifest
from edge_agent.pipeline import CameraPipeline
from edge_agent.rules import load_rules

COCO = load_manifest().get("yolox_nano")
RULES = {
    "version": 1,
    "zones": [{"id": "zone-a", "polygon": [[0.24, 0.28], [0.84, 0.28], [0.84, 0.385], [0.24, 0.385]]}],
    "analytics": [{"type": "parking", "id": "parking.file", "zones": ["zone-a"], "dwell_s": 3600}],
}


def config_dict(tmp_path: Path, cameras: int, source: str = "street.jpg", **extra) -> dict:
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps(RULES))
    return {
        "device_id": "edge-batch-01",
        "mqtt_url": "mqtt://edge-batch-01:pw@127.0.0.1:1",
        "hub_url": "http://127.0.0.1:1",
        "data_dir": str(tmp_path / "data"),
        "models_dir": str(MODELS_DIR),
        "health_interval_s": 3600,
        "cameras": [
            {"camera_id": f"cam-{n}", "source": source, "fps": 10, "rules": str(rules)} for n in range(cameras)
        ],
        **extra,
    }


# -- config --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inference", "message"),
    [
        ({"max_batch": 0}, "inference.max_batch: Input should be greater than or equal to 1"),
        ({"max_batch": 65}, "inference.max_batch: Input should be less than or equal to 64"),
        ({"max_batch": "lots"}, "inference.max_batch: Input should be a valid integer"),
        ({"max_batch": 2.5}, "inference.max_batch: Input should be a valid integer"),
        ({"max_wait_ms": -1}, "inference.max_wait_ms: Input should be greater than or equal to 0"),
        ({"max_wait_ms": 500}, "inference.max_wait_ms: Input should be less than or equal to 100"),
        ({"max_wait": 2}, "inference.max_wait: Extra inputs are not permitted (unknown key"),
        ({"workers": 0}, "inference.workers: Input should be greater than or equal to 1"),
        ({"workers": 9}, "inference.workers: Input should be less than or equal to 8"),
    ],
)
def test_bad_inference_settings_name_file_field_and_limit(tmp_path: Path, inference: dict, message: str) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config_dict(tmp_path, 2, inference=inference)))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: {message}" in str(info.value)


def test_batch_limit_defaults_to_the_cameras_up_to_8_and_1_turns_batching_off(tmp_path: Path) -> None:
    assert [InferenceConfig().batch_for(n) for n in (1, 3, 8, 12)] == [1, 3, 8, 8]
    assert InferenceConfig(max_batch=1).batch_for(5) == 1
    assert InferenceConfig(max_batch=16).batch_for(2) == 16
    # Two inference threads by default, never more than frames in a batch.
    assert [InferenceConfig().workers_for(b) for b in (1, 2, 8)] == [1, 2, 2]
    assert InferenceConfig(workers=3).workers_for(8) == 3 and InferenceConfig(workers=3).workers_for(2) == 2
    config = parse_config(config_dict(tmp_path, 3))
    assert config.inference == InferenceConfig() and config.inference.max_wait_ms == 2.0
    tuned = parse_config(config_dict(tmp_path, 3, inference={"max_batch": 2, "max_wait_ms": 0}))
    assert tuned.inference.batch_for(len(tuned.cameras)) == 2 and tuned.inference.max_wait_ms == 0


# -- pipeline ------------------------------------------------------------------------------------------------


class LockProbe:
    """Records whether the pipeline's inference lock was held while `detect` ran."""

    spec = COCO

    def __init__(self, thread_safe: bool) -> None:
        self.thread_safe = thread_safe
        self.lock_held: list[bool] = []
        self.pipeline: CameraPipeline | None = None

    def detect(self, image: np.ndarray) -> Detections:
        assert self.pipeline is not None
        self.lock_held.append(self.pipeline.inference_lock.locked())
        return Detections.empty(COCO.classes)


class NullRecorder:
    def record(self, event: dict, request) -> int | None:
        return None


@pytest.mark.parametrize(("thread_safe", "locked"), [(False, True), (True, False)])
def test_pipeline_holds_the_inference_lock_only_for_a_detector_that_does_not_batch(
    tmp_path: Path, thread_safe: bool, locked: bool
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps(RULES))
    camera = CameraConfig(camera_id="cam-l", source="x.jpg", rules=rules)
    probe = LockProbe(thread_safe)
    pipeline = CameraPipeline(camera, load_rules(rules), probe, NullRecorder(), LatencyWindow())
    probe.pipeline = pipeline
    image = np.zeros((48, 64, 3), np.uint8)
    pipeline.process(Frame(image, datetime.now(UTC), time.monotonic(), 0))
    assert probe.lock_held == [locked]


# -- agent ---------------------------------------------------------------------------------------------------


def runs_reach(batcher: InferenceBatcher, runs: int, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while sum(batcher.batch_sizes().values()) < runs and time.monotonic() < deadline:
        time.sleep(0.05)
    return sum(batcher.batch_sizes().values()) >= runs


def start_agent(config) -> EdgeAgent:
    link = FakeLink()
    agent = EdgeAgent(config, link_factory=lambda *_: link, uploader=FakeUploader())
    agent.start()
    return agent


def test_agent_batches_its_cameras_swaps_models_through_the_batcher_and_closes_it(tmp_path: Path) -> None:
    street = shared_file("media", "mmdet_demo.jpg")
    shared_file("models", "yolox_nano.onnx")
    agent = start_agent(parse_config(config_dict(tmp_path, 2, source=str(street))))
    try:
        batcher = agent.detector
        assert isinstance(batcher, InferenceBatcher)
        assert all(runtime.pipeline.detector is batcher for runtime in agent.cameras.values())
        assert runs_reach(batcher, 3)
        assert all(runtime.worker.errors == 0 for runtime in agent.cameras.values())
        scraped = generate_latest(agent.metrics.registry).decode()
        assert "cityops_edge_inference_batches_total{size=" in scraped  # the agent's /metrics shows the batching

        store = ModelStore(load_manifest(), MODELS_DIR, tmp_path / "hashes.json")
        spec, path = store.resolve("yolox_nano")
        update = create_detector(spec.model_copy(update={"sha256": "e" * 64}), path, DetectorOptions())
        agent.swap_detector(update)  # what model_update does once the new file loaded and warmed up
        assert agent.detector is batcher and batcher.spec.sha256 == "e" * 64
        assert batcher.detector is not update and batcher.detector.session is not update.session  # batch-capable copy
        runs = sum(batcher.batch_sizes().values())
        assert runs_reach(batcher, runs + 2)
        assert all(runtime.worker.errors == 0 for runtime in agent.cameras.values())
    finally:
        agent.stop()
    with pytest.raises(BatcherClosed):
        batcher.detect(np.zeros((416, 416, 3), np.uint8))


def test_agent_with_batching_off_keeps_the_plain_detector_under_the_lock(tmp_path: Path) -> None:
    street = shared_file("media", "mmdet_demo.jpg")
    shared_file("models", "yolox_nano.onnx")
    agent = start_agent(parse_config(config_dict(tmp_path, 2, source=str(street), inference={"max_batch": 1})))
    try:
        assert isinstance(agent.detector, OnnxDetector) and not agent.detector.thread_safe
        deadline = time.monotonic() + 60
        while not all(r.pipeline.frames > 0 for r in agent.cameras.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(r.pipeline.frames > 0 for r in agent.cameras.values())
    finally:
        agent.stop()
