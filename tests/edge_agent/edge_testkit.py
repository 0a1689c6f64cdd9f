"""Shared helpers for the edge agent tests: paths to ../shared (tests/shared_assets.py), fakes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from cityops.contract.topics import Topic
from edge_agent.detections import Detections
from edge_agent.models.manifest import load_manifest
from tests.shared_assets import MEDIA_DIR as MEDIA_DIR
from tests.shared_assets import MODELS_DIR as MODELS_DIR
from tests.shared_assets import SHARED as SHARED
from tests.shared_assets import shared_file as shared_file


class FakeLink:
    """Records what the agent publishes; connected state is set by the test."""

    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self.accept = True
        self.published: list[tuple[Topic, bytes, int, bool]] = []
        self.started = False
        self.lock = threading.Lock()

    def is_connected(self) -> bool:
        return self.connected

    def publish(self, suffix: Topic, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        if not (self.connected and self.accept):
            return False
        with self.lock:
            self.published.append((suffix, payload, qos, retain))
        return True

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def messages(self, suffix: Topic) -> list[bytes]:
        with self.lock:
            return [p for s, p, _, _ in self.published if s is suffix]


class FakeUploader:
    def __init__(self) -> None:
        self.fail_with: Exception | None = None
        self.uploads: list[tuple[str, Path, str]] = []

    def upload(self, event_id: str, path: Path, sha256: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.uploads.append((event_id, path, sha256))


class OneCarDetector:
    """Sees one confident car at the same place in every frame (YOLOX-Nano's spec and classes)."""

    spec = load_manifest().get("yolox_nano")

    def detect(self, image: np.ndarray) -> Detections:
        return Detections.from_arrays([[40, 30, 60, 60]], [0.9], [2], self.spec.classes)


class ListRecorder:
    """The pipeline's recorder, keeping the events in memory instead of the outbox."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def record(self, event: dict, request: object) -> int:
        self.events.append(event)
        return len(self.events)
