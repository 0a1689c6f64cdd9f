"""Replay labelled clips through the agent's own CameraPipeline (detector, tracker, analytics, camera integrity) and
score the events it records against the labels.

The clock is video time: frame n of a clip is stamped `n / fps` seconds after a fixed start, so a two-minute scene
replays as fast as the detector allows. Composed clips (real pictures with real crops pasted in at labelled times)
and injected faults are made here, in memory, deterministically; nothing is written beside the labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_agent.analytics.parking import KIND as PARKING_KIND
from edge_agent.analytics.parking import ParkingRuleConfig
from edge_agent.analytics.thresholds import detection_floor
from edge_agent.capture.sources import Frame
from edge_agent.config import CameraConfig, RuntimeConfig
from edge_agent.detectors import DetectorOptions, create_detector
from edge_agent.detectors.base import Detector
from edge_agent.evaluation.labels import Clip, Fault, LabelsError, LabelSet, Paste, load_labels
from edge_agent.evaluation.scoring import AnalyticScore, Interval, score
from edge_agent.health import LatencyWindow
from edge_agent.integrity.camera_faults import CameraFaultDetector
from edge_agent.models.manifest import ModelStore, load_manifest
from edge_agent.pipeline import CameraPipeline

SHARED = Path(__file__).resolve().parents[2].parent / "shared"  # ../shared beside the checkout
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # the clips' video time starts here (a Monday, midday)
MONO0 = 1000.0


class _ListRecorder:
    """Keeps the events the pipeline would hand to the outbox (and on to MQTT); no pictures are rendered."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, event: dict[str, Any], request: object) -> int:
        self.events.append(event)
        return len(self.events)


def read_source(path: Path, clip: Clip) -> list[np.ndarray]:
    """The source frames each fed frame shows, decoded once: a still is one frame; a video or gif is played at its
    `source_fps` and looped, and only the frames the feed lands on are kept (a long mp4 does not fill memory)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: clip {clip.id}'s source is missing (see ../shared/media/MEDIA.md)")
    feed_times = [n / clip.fps for n in range(int(clip.duration_s * clip.fps))]
    if clip.source_fps is None:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path}: not a readable picture")
        return [image] * len(feed_times)
    count = _frame_count(path)
    if count == 0:
        raise ValueError(f"{path}: not a readable video")
    wanted = [int(t * clip.source_fps) % count for t in feed_times]
    keep: dict[int, np.ndarray] = {}
    needed = set(wanted)
    cap = cv2.VideoCapture(str(path))
    try:
        for index in range(max(wanted) + 1):
            if not cap.grab():
                break
            if index in needed and index not in keep:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    keep[index] = frame
    finally:
        cap.release()
    missing = sorted(set(wanted) - keep.keys())
    if missing:
        raise ValueError(f"{path}: frames {missing[:5]} could not be decoded")
    return [keep[i] for i in wanted]


def _frame_count(path: Path) -> int:
    """Counted by reading (a gif's or a damaged file's header count is not to be trusted)."""
    cap = cv2.VideoCapture(str(path))
    count = 0
    try:
        while cap.grab():
            count += 1
    finally:
        cap.release()
    return count


def paste(image: np.ndarray, p: Paste) -> np.ndarray:
    x1, y1, x2, y2 = p.crop
    x, y = p.at
    h, w = y2 - y1, x2 - x1
    if not (0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]):
        raise ValueError(f"crop {p.crop} lies outside the {image.shape[1]}x{image.shape[0]} picture")
    if not (x >= 0 and x + w <= image.shape[1] and y >= 0 and y + h <= image.shape[0]):
        raise ValueError(f"paste at {p.at} of a {w}x{h} crop lies outside the picture")
    out = image.copy()
    out[y : y + h, x : x + w] = image[y1:y2, x1:x2]
    return out


def inject(image: np.ndarray, fault: Fault, frozen: np.ndarray) -> np.ndarray:
    """A covered lens (flat dark grey), a defocused lens, a camera knocked sideways (10 % of the width), or a
    frozen picture (`frozen`: the frame shown when the fault began)."""
    if fault.type == "covered":
        return np.full_like(image, 24)
    if fault.type == "defocused":
        return cv2.GaussianBlur(image, (0, 0), sigmaX=image.shape[1] / 80)
    if fault.type == "moved":
        shift = np.float32([[1, 0, image.shape[1] * 0.10], [0, 1, image.shape[0] * 0.05]])
        return cv2.warpAffine(image, shift, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)
    return frozen


def frames_of(clip: Clip, source: list[np.ndarray]):
    frozen_at: dict[int, np.ndarray] = {}
    for n, base in enumerate(source):
        t = n / clip.fps
        image = base
        for p in clip.pastes:
            if p.from_s <= t < p.to_s:
                image = paste(image, p)
        for k, fault in enumerate(clip.faults):
            if fault.from_s <= t < fault.to_s:
                frozen = frozen_at.setdefault(k, image)
                image = inject(image, fault, frozen)
        yield Frame(image, T0 + timedelta(seconds=t), MONO0 + t, n)


def _seconds(ts: str) -> float:
    return (datetime.fromisoformat(ts.replace("Z", "+00:00")) - T0).total_seconds()


def events_to_intervals(events: list[dict[str, Any]], duration_s: float) -> list[Interval]:
    """One interval per incident: a `start` opens it, the next `end` of the same incident key closes it (a fault's
    key is reused by its next occurrence); one never ended lasts to the clip's end."""
    open_: dict[str, tuple[dict[str, Any], float]] = {}
    out: list[Interval] = []

    def interval(event: dict[str, Any], start: float, end: float) -> Interval:
        key = event.get("subtype") if event["kind"] == "camera_fault" else event.get("zone_id")
        return Interval(event["kind"], key, start, max(start, end))

    for event in events:
        key = f"{event['kind']}/{event['incident_key']}"
        if event["phase"] == "start":
            open_[key] = (event, _seconds(event["ts"]))
        elif event["phase"] == "end" and key in open_:
            first, start = open_.pop(key)
            out.append(interval(first, start, _seconds(event["ts"])))
    out.extend(interval(first, start, duration_s) for first, start in open_.values())
    return out


@dataclass(slots=True)
class ClipResult:
    clip: Clip
    frames: int
    events: list[dict[str, Any]]
    predicted: list[Interval]
    scores: dict[str, AnalyticScore]


def load_detector(labels: LabelSet, models_dir: Path, model: str | None = None) -> Detector:
    """The labels' model, or `model` (another manifest entry: a candidate judged on the same stays)."""
    store = ModelStore(load_manifest(), models_dir.resolve())
    spec, path = store.resolve(model or labels.model)
    floor = detection_floor([a for c in labels.clips for a in c.rules.analytics], RuntimeConfig().score_threshold)
    detector = create_detector(spec, path, DetectorOptions(score_threshold=floor, intra_op_threads=2))
    return detector


def replay_clip(clip: Clip, media_dir: Path, detector: Detector, tolerance_s: float) -> ClipResult:
    source = read_source(media_dir / clip.source, clip)
    camera = CameraConfig(camera_id=f"eval-{clip.id}", source=clip.source, fps=clip.fps, rules=Path("labels"))
    integrity = CameraFaultDetector(camera.camera_id, clip.integrity, check_frozen=clip.source_fps is not None)
    recorder = _ListRecorder()
    pipeline = CameraPipeline(camera, clip.rules, detector, recorder, LatencyWindow(), integrity=integrity)  # type: ignore[arg-type]
    frames = 0
    for frame in frames_of(clip, source):
        pipeline.process(frame)
        frames += 1
    pipeline.close("agent_stopped")
    predicted = events_to_intervals(recorder.events, clip.duration_s)
    if clip.labelled is not None:
        predicted = [i for i in predicted if i.analytic in clip.labelled]
    truth = [Interval(e.analytic, e.key, e.start, e.end) for e in clip.events]
    # A clean clip scores too: its labelled analytics get a row (with their false alarms, or none).
    scores = {a: AnalyticScore() for a in scored_analytics(clip)} | score(truth, predicted, tolerance_s)
    return ClipResult(clip, frames, recorder.events, predicted, scores)


def scored_analytics(clip: Clip) -> list[str]:
    """The analytics a clip is labelled for: its `labelled` list, else camera integrity (when on) and the event
    kinds of its rules that this evaluation knows (parking)."""
    if clip.labelled is not None:
        return list(clip.labelled)
    kinds = ["camera_fault"] if clip.integrity.enabled else []
    if any(isinstance(a, ParkingRuleConfig) for a in clip.rules.analytics):
        kinds.append(PARKING_KIND)
    return kinds


def totals(results: list[ClipResult]) -> dict[tuple[str, str], AnalyticScore]:
    """Per (analytic, footage kind): the clips' scores added up."""
    out: dict[tuple[str, str], AnalyticScore] = {}
    for r in results:
        for analytic, s in r.scores.items():
            out.setdefault((analytic, r.clip.kind), AnalyticScore()).merge(s)
    return dict(sorted(out.items()))


def summary(results: list[ClipResult]) -> dict[str, Any]:
    return {
        "clips": [
            {
                "id": r.clip.id,
                "kind": r.clip.kind,
                "frames": r.frames,
                "events": len(r.events),
                "scores": {a: s.as_dict() for a, s in sorted(r.scores.items())},
            }
            for r in results
        ],
        "totals": [{"analytic": a, "kind": k, **s.as_dict()} for (a, k), s in totals(results).items()],
    }


def format_table(results: list[ClipResult]) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    lines = [
        f"{'analytic':<16} {'kind':<9} {'P':>5} {'R':>5} {'F1':>5} {'err mean':>8} {'err max':>8} {'dup':>4}  tp/fp/fn"
    ]
    for (analytic, kind), s in totals(results).items():
        lines.append(
            f"{analytic:<16} {kind:<9} {f(s.precision):>5} {f(s.recall):>5} {f(s.f1):>5} "
            f"{f(s.mean_start_error_s):>8} {f(s.max_start_error_s):>8} {s.duplicates:>4}  {s.tp}/{s.fp}/{s.fn}"
        )
    return "\n".join(lines)


def evaluate(
    labels_path: Path,
    only: list[str] | None = None,
    models_dir: Path | None = None,
    media_dir: Path | None = None,
    model: str | None = None,
) -> list[ClipResult]:
    """Load the labels, replay the clips (`only`: these ids) and score each, with the labels' model or `model`."""
    labels = load_labels(labels_path)
    clips = labels.clips
    if only:
        unknown = sorted(set(only) - {c.id for c in clips})
        if unknown:
            raise LabelsError(f"{labels_path}: no clip {', '.join(unknown)}; clips: {', '.join(c.id for c in clips)}")
        clips = [c for c in clips if c.id in only]
    detector = load_detector(labels, models_dir or SHARED / "models", model)
    media = media_dir or SHARED / "media"
    return [replay_clip(clip, media, detector, labels.tolerance_s) for clip in clips]


def evaluate_labels(labels_path: Path, model: str | None = None) -> dict[str, Any]:
    """`cityops models eval --events LABELS`: the whole set's summary (what `edge eval --json` prints)."""
    return summary(evaluate(labels_path, model=model))
