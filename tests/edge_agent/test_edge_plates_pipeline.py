"""The plate step in the camera pipeline (SYNTHETIC plate on a real car): a parking start event carries the plate
read from the frame, and with `blur` the evidence picture has the plate pixelated while the frame is untouched."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from edge_plates_scene import LPD_MODEL, plate_on_car
from edge_testkit import MODELS_DIR, FakeLink, FakeUploader, shared_file

from cityops.contract.messages import Event, new_event_id
from edge_agent.app import EdgeAgent
from edge_agent.capture.sources import Frame
from edge_agent.comms.outbox import Outbox
from edge_agent.config import CameraConfig, ConfigError, EvidenceConfig, parse_config
from edge_agent.detections import Detections
from edge_agent.health import LatencyWindow
from edge_agent.models.manifest import load_manifest
from edge_agent.pipeline import CameraPipeline
from edge_agent.plates.crop import rectify_plate
from edge_agent.plates.options import PlateOptions
from edge_agent.plates.reader import PlateReaderUnavailable
from edge_agent.plates.recognizer import PlateModels
from edge_agent.recorder import EventRecorder, EvidenceRequest
from edge_agent.remote.snapshot import encode_snapshot
from edge_agent.rules import load_rules
from tests.shared_assets import require_shared

pytest.importorskip("rapidocr_onnxruntime", reason="the optional `plates` extra is not installed")

COCO = load_manifest().get("yolox_nano")
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
RULES = """
version: 2
zones: [{id: kerb, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]
analytics:
  - {type: parking, id: parking.kerb, zones: [kerb], dwell_s: 2, update_every_s: 2, plates: PLATES}
"""


class CarDetector:
    """The detector's answer for the scene: the SUV, as a car, every frame."""

    spec = COCO

    def __init__(self, box: tuple[float, float, float, float]) -> None:
        self.box = box

    def detect(self, image: np.ndarray) -> Detections:
        return Detections.from_arrays([list(self.box)], [0.9], [COCO.classes.index("car")], COCO.classes)


class ListRecorder:
    def __init__(self) -> None:
        self.records: list[tuple[dict, object]] = []

    def record(self, event: dict, request) -> int:
        self.records.append((event, request))
        return len(self.records)


@pytest.fixture(scope="module")
def models() -> PlateModels:
    require_shared(LPD_MODEL)
    return PlateModels(lambda name: LPD_MODEL)


def run_parking(tmp_path: Path, plates: str, models: PlateModels | None) -> tuple[ListRecorder, np.ndarray]:
    scene = plate_on_car()
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace("PLATES", plates))
    camera = CameraConfig(camera_id="cam-plate", source="x.jpg", rules=path)
    recorder = ListRecorder()
    pipeline = CameraPipeline(
        camera, load_rules(path), CarDetector(scene.vehicle_xyxy), recorder, LatencyWindow(), plates=models
    )
    image = scene.image.copy()
    for t in range(7):  # a start once the track has dwelt 2 s, then an update 2 s later
        pipeline.process(Frame(image, T0 + timedelta(seconds=t), float(t), t))
    np.testing.assert_array_equal(image, scene.image)  # the analysed frame itself is never modified
    return recorder, image


def test_start_event_carries_the_plate_and_evidence_is_blurred(tmp_path: Path, models: PlateModels) -> None:
    scene = plate_on_car()
    recorder, image = run_parking(tmp_path, "{read: true, blur: true}", models)
    phases = [e["phase"] for e, _ in recorder.records]
    assert phases[0] == "start" and phases[1:] and set(phases[1:]) == {"update"}
    start = Event.model_validate({**recorder.records[0][0], "seq": 1})  # still a valid protocol v1 event
    plate = recorder.records[0][0]["plate"]
    assert start.kind == "illegal_parking" and plate["text"] == scene.text and plate["confidence"] >= 0.9
    h, w = image.shape[:2]
    corners_px = np.array(plate["corners"]) * [w, h]
    assert np.linalg.norm(corners_px - scene.corners, axis=1).max() < 8.0
    assert all("plate" not in e for e, _ in recorder.records[1:])  # read once per stay, on start
    recognizer = PlateModels(lambda name: LPD_MODEL).recognizer(load_rules(tmp_path / "rules.yaml").plate_options())
    assert recognizer is not None and recognizer.reader is not None
    for _, request in recorder.records:  # every picture of the rule: plate blurred, unreadable
        assert request.frame is not image
        assert recognizer.reader.read(rectify_plate(request.frame, scene.corners)) is None


def test_without_plate_options_the_recorder_blurs_the_plates(tmp_path: Path, models: PlateModels) -> None:
    scene = plate_on_car()
    recorder, image = run_parking(tmp_path, "{}", models)
    assert [e["phase"] for e, _ in recorder.records][:2] == ["start", "update"]
    assert all("plate" not in e for e, _ in recorder.records)
    assert all(request.frame is image and not request.plates_done for _, request in recorder.records)
    assert recorder.records[0][1].vehicle_boxes[0] == tuple(map(float, scene.vehicle_xyxy))


def _readable(image: np.ndarray, corners: np.ndarray) -> str | None:
    """The OCR model (not the plate detector that blurs) reads the plate region: the independent judge."""
    reader = PlateModels(lambda name: LPD_MODEL).recognizer(PlateOptions(read=True)).reader
    text = reader.read(rectify_plate(image, corners))
    return text.text if text is not None else None


@pytest.mark.parametrize(("plates_done", "legible"), [(False, False), (True, True)])
def test_every_picture_leaves_with_its_plates_pixelated_unless_the_rule_keeps_them(
    tmp_path: Path, models: PlateModels, plates_done: bool, legible: bool
) -> None:
    """A camera-fault or scene picture, or a parking rule without plate options: plates pixelated by the recorder.
    A parking rule that reads plates keeps its evidence legible (plates_done)."""
    scene = plate_on_car()
    assert _readable(scene.image, scene.corners) == scene.text
    evidence_dir = tmp_path / "evidence"
    recorder = EventRecorder(
        Outbox(tmp_path / "outbox.sqlite"), evidence_dir, EvidenceConfig(), None, background=False,
        faces_unblurred=True, plate_blur=models.blurrer().blur,
    )  # fmt: skip
    request = EvidenceRequest(scene.image, T0, (0.0, 0.0, 10.0, 10.0), "camera fault", None, plates_done=plates_done)
    event = {"event_id": new_event_id(), "ts": T0.isoformat(), "kind": "camera_fault", "phase": "start",
             "incident_key": "cam-plate/fault"}  # fmt: skip
    assert recorder.record(event, request) == 1
    (picture,) = evidence_dir.rglob("*.jpg")
    sent = cv2.imread(str(picture))
    sent = cv2.resize(sent, (scene.image.shape[1], scene.image.shape[0])) if sent.shape != scene.image.shape else sent
    assert (_readable(sent, scene.corners) == scene.text) is legible
    assert (recorder.plates_blurred == 0) is plates_done  # finds in overlapping regions count each


def test_snapshots_leave_with_their_plates_pixelated(models: PlateModels) -> None:
    scene = plate_on_car()
    snap = encode_snapshot(scene.image, None, 95, models.blurrer().blur)
    sent = cv2.imdecode(np.frombuffer(snap.data, np.uint8), cv2.IMREAD_COLOR)
    assert _readable(sent, scene.corners) is None


def test_read_without_blur_keeps_the_plate_visible(tmp_path: Path, models: PlateModels) -> None:
    scene = plate_on_car()
    recorder, image = run_parking(tmp_path, "{read: true}", models)
    assert recorder.records[0][0]["plate"]["text"] == scene.text
    assert recorder.records[0][1].frame is image


def test_plate_rules_without_plate_models_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cam-plate: rules ask for licence plates"):
        run_parking(tmp_path, "{blur: true}", None)


def agent_config(tmp_path: Path, source: Path, plates: str):
    shared_file("models", "yolox_nano.onnx")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("dwell_s: 2", "dwell_s: 0.5").replace("PLATES", plates))
    return parse_config(
        {
            "device_id": "edge-plates-01",
            "mqtt_url": "mqtt://edge-plates-01:pw@127.0.0.1:1",
            "hub_url": "http://127.0.0.1:1",
            "data_dir": str(tmp_path / "data"),
            "models_dir": str(MODELS_DIR),
            "health_interval_s": 3600,
            "cameras": [{"camera_id": "cam-plate", "source": str(source), "fps": 5, "rules": str(rules)}],
        }
    )


def test_agent_reads_the_plate_of_a_parked_car_into_the_outbox(tmp_path: Path, models: PlateModels) -> None:
    """The whole agent (YOLOX-Nano finds the car, the tracker and parking rule start a stay) on the SYNTHETIC plate
    scene as a still camera: the stored start event has the plate, its picture has it blurred."""
    scene = plate_on_car()
    source = tmp_path / "plate-scene.png"  # lossless, so the pixels match the scene's ground truth
    assert cv2.imwrite(str(source), scene.image)
    link = FakeLink(connected=False)  # events stay in the outbox, where the test reads them
    agent = EdgeAgent(agent_config(tmp_path, source, "{read: true, blur: true}"), link_factory=lambda *_: link)
    agent.start()
    try:
        deadline = time.monotonic() + 60
        # Several cars park in this street; wait until a stay with a plate (the SUV's) has started.
        while time.monotonic() < deadline and not any(
            '"plate"' in i.payload for i in agent.outbox.due("edge-plates-01")
        ):
            time.sleep(0.05)
        items = agent.outbox.due("edge-plates-01")
    finally:
        agent.stop()
    events = [(json.loads(item.payload), item.evidence_path) for item in items]
    assert events and all(event["phase"] == "start" for event, _ in events)
    with_plate = [(event, path) for event, path in events if "plate" in event]
    assert with_plate, "no start event with a plate within 60 s"
    h, w = scene.image.shape[:2]
    for event, _ in with_plate:  # the SUV only (as a car, or also as a truck): not the cars it partly hides
        assert event["plate"]["text"] == scene.text
        x1, _, x2, y2 = (v * s for v, s in zip(event["bbox"], (w, h, w, h), strict=True))
        assert x1 < scene.corners[:, 0].min() and x2 > scene.corners[:, 0].max() and y2 > scene.corners[:, 1].max()
        assert y2 > 0.7 * h  # the SUV's bottom edge, in front of the white car behind it
    reader = models.recognizer(load_rules(tmp_path / "rules.yaml").plate_options()).reader
    for _, path in events:  # every stored picture has the plate unreadable
        picture = cv2.imread(str(path))
        assert picture is not None and picture.shape == scene.image.shape
        assert reader.read(rectify_plate(picture, scene.corners)) is None


def test_agent_start_refuses_plate_rules_without_the_ocr_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules that need plates load the models at start, so a missing wheel fails the start, not a frame later."""
    link = FakeLink()
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # as if the `plates` extra were not installed
    config = agent_config(tmp_path, shared_file("media", "mmdet_demo.jpg"), "{read: true}")
    agent = EdgeAgent(config, link_factory=lambda on_message, on_connected: link, uploader=FakeUploader())
    with pytest.raises(PlateReaderUnavailable, match="rapidocr-onnxruntime"):
        agent.start()
    assert not link.started
