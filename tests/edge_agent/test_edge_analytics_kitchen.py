"""Kitchen checks: rodents and hats on SYNTHETIC scenes, phone use on a real COCO photo with the real model."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from analytics_scoring import Score
from edge_testkit import MODELS_DIR, shared_file
from pydantic import ValidationError

from edge_agent.analytics.finding import FrameContext
from edge_agent.analytics.kitchen import BusinessHours, KitchenAnalytic, KitchenRuleConfig
from edge_agent.analytics.kitchen_match import centres_in_regions, head_regions, white_hat_score
from edge_agent.analytics.motion import MotionBlobDetector, MotionParams
from edge_agent.detections import Detections
from edge_agent.zones import Zone, ZoneConfig
from tests.edge_agent.scenes import kitchen_floor, people

NAMES = ("person", "cell phone", "chef_hat", "mask", "cigarette", "rat")
OPEN = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai
CLOSED = datetime(2026, 7, 1, 17, 0, tzinfo=UTC)  # 01:00 in Asia/Shanghai
WHOLE = ZoneConfig(id="kitchen", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)])


def rule(**overrides) -> KitchenRuleConfig:
    data = {
        "type": "kitchen",
        "id": "kitchen.test",
        "version": 4,
        "zones": ["kitchen"],
        "timezone": "Asia/Shanghai",
        "business_hours": [{"start": "09:00", "end": "22:00"}],
        "class_roles": {"person": "person", "cell phone": "phone", "chef_hat": "hat"},
        "persist_s": 3,
        "clear_s": 4,
    }
    return KitchenRuleConfig.model_validate({**data, **overrides})


def analytic(config: KitchenRuleConfig, zones=(WHOLE,)) -> KitchenAnalytic:
    return KitchenAnalytic("cam-k", config, {z.id: Zone(z) for z in zones})


def dets(rows: list[tuple[tuple[float, float, float, float], str, float, int]], names=NAMES) -> Detections:
    """rows of (box, class name, score, track id)."""
    if not rows:
        empty = Detections.empty(names)
        return empty.with_tracker_ids(empty.class_id)
    boxes, classes, scores, ids = zip(*rows, strict=True)
    return Detections.from_arrays(boxes, scores, [names.index(c) for c in classes], names, tracker_id=ids)


def frame_at(t: float, image: np.ndarray, detections: Detections, base: datetime = OPEN) -> FrameContext:
    return FrameContext(t, base + timedelta(seconds=t), image, detections)


def test_synthetic_no_hat_from_a_noisy_hat_detector_precision_recall() -> None:
    """Hats detected with 80 % recall and 3 % false hats per frame; a person without a hat for 3 s is a violation."""
    score = Score()
    rng = np.random.default_rng(0)
    for seed in range(6):
        frames = people.people_scene(seed=seed, n_frames=15)
        a = analytic(rule())
        flagged: set[int] = set()
        for frame in frames:
            rows = []
            for track, (box, has_hat) in enumerate(frame.truth["persons"], start=1):
                rows.append((box, "person", 0.8, track))
                if (has_hat and rng.random() < 0.8) or (not has_hat and rng.random() < 0.03):
                    x1, y1, x2, _ = box
                    w = x2 - x1
                    rows.append(((x1 + 0.3 * w, y1, x2 - 0.3 * w, y1 + 0.12 * (_ - y1)), "chef_hat", 0.6, 100 + track))
            for f in a.observe(frame_at(frame.t, frame.image, dets(rows))):
                if f.subtype == "no_hat" and f.phase == "start":
                    flagged.add(f.track_id)
        for track, (_, has_hat) in enumerate(frames[0].truth["persons"], start=1):
            score.add(track in flagged, not has_hat)
    score.line("kitchen no_hat (hat detector 80% recall)", "persons")
    assert score.precision >= 0.9 and score.recall >= 0.9


def test_synthetic_no_hat_head_colour_heuristic_precision_recall() -> None:
    score = Score()
    for seed in range(10):
        frame = people.people_scene(seed=seed, n_frames=1)[0]
        for box, has_hat in frame.truth["persons"]:
            score.add(white_hat_score(frame.image, np.asarray(box)) < 0.3, not has_hat)
    score.line("kitchen no_hat head-colour HEURISTIC", "persons")
    assert score.precision >= 0.9 and score.recall >= 0.9


def test_heuristic_no_hat_events_are_flagged_as_heuristic() -> None:
    frames = people.people_scene(seed=3, n_frames=6)
    a = analytic(rule(class_roles={"person": "person"}, hat_heuristic=True))
    events = []
    for frame in frames:
        rows = [(box, "person", 0.9, n) for n, (box, _) in enumerate(frame.truth["persons"], start=1)]
        events += a.observe(frame_at(frame.t, frame.image, dets(rows)))
    hatless = {n for n, (_, hat) in enumerate(frames[0].truth["persons"], start=1) if not hat}
    assert {e.track_id for e in events if e.phase == "start"} == hatless
    assert all(e.extra["method"] == "heuristic" and e.extra["heuristic"] == "white_head_colour" for e in events)
    assert all(e.extra["validated_on"].startswith("SYNTHETIC") and e.algorithm is None for e in events)
    assert all(e.measurements["count"] == len(frames[0].truth["persons"]) for e in events)  # all in the kitchen


def test_synthetic_rodent_motion_after_hours_precision_recall() -> None:
    frames = list(kitchen_floor.kitchen_floor_scene(seed=1))
    h, w = frames[0].image.shape[:2]
    mask = np.zeros((h, w), bool)
    mask[int(0.3 * h) :, :] = True  # the floor zone of the scene
    blobs = MotionBlobDetector(mask, MotionParams(min_area_px=31, max_area_px=1536))
    score = Score()
    for frame in frames:
        found = blobs.update(frame.image)
        if found is not None:  # None: background warm-up, or the lights-on frame (a global change)
            score.add(bool(found), frame.truth["rodent_box"] is not None)
    score.line("kitchen rodent motion blobs", "frames")
    assert score.precision >= 0.9 and score.recall >= 0.85

    floor = ZoneConfig(id="floor", polygon=kitchen_floor.FLOOR_POLYGON_NORM)
    config = rule(rodent_motion={"zones": ["floor"], "persist_frames": 3, "clear_s": 3, "min_area": 0.0004})
    a = analytic(config, zones=(WHOLE, floor))
    episodes = [
        (frame, f)
        for frame in frames
        for f in a.observe(frame_at(frame.t, frame.image, dets([]), base=CLOSED))
        if f.phase in ("start", "end")
    ]
    # One episode per run of the rodent; the lights switched on in between started nothing.
    assert [f.phase for _, f in episodes] == ["start", "end", "start", "end"]
    assert all(f.subtype == "rodent" and f.algorithm.name == "mog2_motion_blobs" for _, f in episodes)
    assert all(frame.truth["rodent_box"] is not None for frame, f in episodes if f.phase == "start")
    assert a.open_keys() == []


def test_rodent_motion_is_silent_during_business_hours() -> None:
    floor = ZoneConfig(id="floor", polygon=kitchen_floor.FLOOR_POLYGON_NORM)
    a = analytic(rule(rodent_motion={"zones": ["floor"]}), zones=(WHOLE, floor))
    findings = [
        f
        for frame in kitchen_floor.kitchen_floor_scene(seed=1)
        for f in a.observe(frame_at(frame.t, frame.image, dets([])))
    ]
    assert findings == []


def test_phone_smoking_and_mask_by_class_roles_with_start_and_end() -> None:
    config = rule(class_roles={"person": "person", "cell phone": "phone", "cigarette": "smoking", "mask": "mask"})
    a = analytic(config)
    image = np.zeros((100, 100, 3), np.uint8)
    person, phone_at_ear, cigarette, mask = [40, 10, 60, 90], [55, 15, 59, 22], [48, 20, 51, 22], [46, 14, 54, 18]
    seen: list[tuple[str, str]] = []
    for t in range(0, 12):
        rows = [(person, "person", 0.9, 1), (phone_at_ear, "cell phone", 0.12, 2), (mask, "mask", 0.5, 4)]
        if t < 6:
            rows.append((cigarette, "cigarette", 0.3, 3))
        seen += [(f.subtype, f.phase) for f in a.observe(frame_at(float(t), image, dets(rows)))]
    assert ("phone", "start") in seen and ("smoking", "start") in seen and ("smoking", "end") in seen
    assert not any(s == "no_mask" for s, _ in seen) and ("phone", "end") not in seen


def test_phone_below_the_hands_does_not_count_and_closed_hours_end_violations() -> None:
    a = analytic(rule())
    image = np.zeros((100, 100, 3), np.uint8)
    person, hat = [40, 10, 60, 90], [46, 8, 54, 14]
    pocket_phone = [50, 85, 54, 89]
    rows = [(person, "person", 0.9, 1), (hat, "chef_hat", 0.5, 2), (pocket_phone, "cell phone", 0.5, 3)]
    assert [f for t in range(10) for f in a.observe(frame_at(float(t), image, dets(rows)))] == []
    # A hatless person starts no_hat while open; after closing time the violation ends.
    events = [f for t in range(10, 16) for f in a.observe(frame_at(float(t), image, dets(rows[:1]), base=OPEN))]
    assert [(e.subtype, e.phase) for e in events] == [("no_hat", "start")]
    closing = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)  # 22:00 local: closed
    late = [f for t in range(16, 24) for f in a.observe(frame_at(float(t), image, dets(rows[:1]), base=closing))]
    assert [(e.subtype, e.phase) for e in late] == [("no_hat", "end")]


def test_rodent_class_at_any_hour() -> None:
    a = analytic(rule(class_roles={"person": "person", "rat": "rodent"}))
    image = np.zeros((100, 100, 3), np.uint8)
    events = [
        f
        for t in range(5)
        for f in a.observe(frame_at(float(t), image, dets([([10, 80, 18, 86], "rat", 0.4, 9)]), base=CLOSED))
    ]
    assert [(e.subtype, e.phase, e.incident_key) for e in events] == [
        ("rodent", "start", "cam-k/kitchen/rodent/track-9")
    ]


def test_business_hours_overnight_and_days() -> None:
    late = BusinessHours(days=["fri"], start="18:00", end="02:00")
    assert late.contains(datetime(2026, 7, 3, 23, 0))  # Friday 23:00
    assert late.contains(datetime(2026, 7, 4, 1, 0))  # Saturday 01:00 belongs to Friday's night
    assert not late.contains(datetime(2026, 7, 4, 23, 0)) and not late.contains(datetime(2026, 7, 3, 1, 0))


def test_head_and_reach_regions() -> None:
    persons = np.array([[0, 0, 10, 100]], np.float32)
    assert centres_in_regions(head_regions(persons), np.array([[3, -5, 7, 5]], np.float32)).tolist() == [True]
    assert centres_in_regions(head_regions(persons), np.array([[3, 40, 7, 50]], np.float32)).tolist() == [False]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"class_roles": {"chef_hat": "hat"}}, "role 'person'"),
        ({"class_roles": {"person": "chef"}}, "Input should be"),
        ({"rodent_motion": {"zones": ["floor"], "min_area": 0.1, "max_area": 0.05}}, "min_area must be below"),
        ({"business_hours": [{"start": "25:00"}]}, "business_hours"),
    ],
)
def test_bad_kitchen_rules_are_refused_with_the_reason(overrides, message) -> None:
    with pytest.raises(ValidationError, match=message):
        rule(**overrides)


def test_real_photo_phone_use_with_yolox() -> None:
    """REAL footage: COCO val2017 #1268, a woman holding a phone up; YOLOX-Nano sees the phone at a low score."""
    from edge_agent.detectors import DetectorOptions, create_detector
    from edge_agent.models.manifest import ModelStore, load_manifest
    from edge_agent.tracking import IouTracker

    image = cv2.imread(str(shared_file("media", "coco_val2017_000000001268.jpg")))
    shared_file("models", "yolox_nano.onnx")
    spec, path = ModelStore(load_manifest(), MODELS_DIR).resolve("yolox_nano")
    detector = create_detector(spec, path, DetectorOptions(score_threshold=0.08))
    detections = detector.detect(image)
    config = rule(class_roles={"person": "person", "cell phone": "phone"}, persist_s=1)
    wanted = detections[detections.class_mask(frozenset(config.classes)) & (detections.confidence >= 0.08)]
    tracker = IouTracker(max_age_s=5)
    a = analytic(config)
    findings = []
    for t in (0.0, 0.5, 1.0, 1.5):
        findings += a.observe(frame_at(t, image, tracker.update(wanted, t)))
    starts = [f for f in findings if f.phase == "start"]
    print(f"REAL coco_val2017_000000001268 phone use: {len(starts)} start(s), boxes {[f.xyxy for f in starts]}")
    assert [f.subtype for f in starts] == ["phone"]
    x1, y1, _, _ = starts[0].xyxy
    assert x1 > 450 and y1 < 150  # the woman on the right, not the people in the background


def test_every_kitchen_event_says_how_it_was_decided_and_what_that_is_validated_on() -> None:
    """`method` model|heuristic and `validated_on` on every kind of kitchen event, as top-level optional event fields
    (protocol v1 keeps unknown fields)."""
    from edge_agent.analytics.finding import finding_payload

    floor = ZoneConfig(id="floor", polygon=kitchen_floor.FLOOR_POLYGON_NORM)
    config = rule(
        class_roles={"person": "person", "cell phone": "phone", "rat": "rodent"},
        hat_heuristic=True,
        rodent_motion={"zones": ["floor"], "persist_frames": 3, "clear_s": 3, "min_area": 0.0004},
    )
    image = np.zeros((100, 100, 3), np.uint8)
    person, phone_at_ear = [40, 10, 60, 90], [55, 15, 59, 22]
    by_check: dict[str, dict] = {}
    a = analytic(config, zones=(WHOLE, floor))
    for t in range(6):
        rows = [(person, "person", 0.9, 1), (phone_at_ear, "cell phone", 0.12, 2), ([10, 80, 18, 86], "rat", 0.4, 9)]
        for f in a.observe(frame_at(float(t), image, dets(rows))):
            by_check[f"{f.subtype}/{f.extra['method']}"] = finding_payload(
                f,
                event_id="e",
                camera_id="cam-k",
                frame_ts=OPEN,
                frame_wh=(100, 100),
                location=None,
                rule_id=config.id,
                rule_version=config.version,
                detector_model={"name": "m", "version": "1", "sha256": "0"},
            )
    motion = analytic(config, zones=(WHOLE, floor))
    for frame in kitchen_floor.kitchen_floor_scene(seed=1):
        for f in motion.observe(frame_at(frame.t, frame.image, dets([]), base=CLOSED)):
            if f.subtype == "rodent" and f.algorithm is not None:
                by_check["rodent/heuristic"] = {"method": "heuristic", **f.extra}
    assert set(by_check) == {"phone/model", "no_hat/heuristic", "rodent/model", "rodent/heuristic"}
    assert by_check["phone/model"]["validated_on"].startswith("REAL: one COCO photo")
    assert by_check["no_hat/heuristic"]["heuristic"] == "white_head_colour"
    assert by_check["rodent/heuristic"]["heuristic"] == "after_hours_motion"
    assert by_check["rodent/model"]["validated_on"].startswith("SYNTHETIC")
    assert all(e["validated_on"] for e in by_check.values())


@pytest.mark.parametrize(
    ("checks", "extra", "message"),
    [
        (
            ["phone", "no_mask"],
            {},
            "checks: 'no_mask' cannot run: no class of the model is mapped to the role 'mask' or",
        ),
        (["smoking"], {}, "checks: 'smoking' cannot run: no class of the model is mapped to the role 'smoking'"),
        (["no_hat"], {}, "'hat' or 'no_hat' in class_roles (or hat_heuristic: true)"),
        (["rodent"], {}, "role 'rodent' in class_roles (or rodent_motion)"),
    ],
)
def test_a_listed_check_without_its_role_is_refused(checks, extra, message) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        rule(class_roles={"person": "person", "cell phone": "phone"}, checks=checks, **extra)


def test_listed_checks_are_the_ones_that_run_and_heuristics_count_as_mapped() -> None:
    config = rule(
        class_roles={"person": "person", "cell phone": "phone", "cigarette": "smoking"},
        hat_heuristic=True,
        rodent_motion={"zones": ["kitchen"]},
        checks=["phone", "no_hat", "rodent"],
    )
    a = analytic(config)
    assert list(a.checks) == ["phone", "no_hat"]  # smoking is mapped but not listed
    assert config.runs("rodent") and not config.runs("smoking")


def test_agent_refuses_to_start_a_kitchen_check_whose_role_is_not_mapped(tmp_path) -> None:
    from edge_testkit import FakeLink, FakeUploader

    from edge_agent.app import EdgeAgent
    from edge_agent.config import ConfigError, parse_config

    rules = tmp_path / "kitchen.yaml"
    rules.write_text(
        "version: 1\n"
        "zones: [{id: prep, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]\n"
        "analytics:\n"
        "  - {type: kitchen, zones: [prep], class_roles: {person: person, cell phone: phone},\n"
        "     checks: [phone, no_mask]}\n"
    )
    config = parse_config(
        {
            "device_id": "edge-kitchen-01",
            "mqtt_url": "mqtt://edge-kitchen-01:pw@127.0.0.1:1",
            "hub_url": "http://127.0.0.1:1",
            "data_dir": str(tmp_path / "data"),
            "models_dir": str(MODELS_DIR),
            "cameras": [{"camera_id": "cam-k", "source": str(tmp_path / "none.jpg"), "rules": str(rules)}],
        }
    )
    link = FakeLink()
    with pytest.raises(ConfigError) as info:
        EdgeAgent(config, link_factory=lambda *_: link, uploader=FakeUploader()).start()
    assert str(rules) in str(info.value) and "analytics[0]" in str(info.value)
    assert "'no_mask' cannot run" in str(info.value) and "'mask' or 'no_mask'" in str(info.value)
    assert not link.started
