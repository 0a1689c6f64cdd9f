"""`cityops models eval`: mAP of a .pt or an exported .onnx on a labelled YOLO-format set (Ultralytics val), and
optionally the edge's event-level evaluation on labelled clips."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.offline import OFFLINE_TRAIN_ARGS, import_ultralytics

# Where the edge's event-level evaluation (`cityops edge eval LABELS`) is expected; looked up lazily, so this
# command works before it exists and picks it up once it does.
EVENT_EVAL_ENTRY_POINTS = ("edge_agent.evaluation.replay:evaluate_labels",)


class EventEvalUnavailable(RuntimeError):
    """The edge's event-level evaluation is not part of this install (yet)."""


def map_metrics(weights: Path, data: Path, imgsz: int | None = None, device: str = "cpu") -> dict[str, Any]:
    if not weights.is_file():
        raise ValueError(f"weights {weights} not found")
    if not data.is_file():
        raise ValueError(f"data set YAML {data} not found")
    ultralytics = import_ultralytics()
    model = ultralytics.YOLO(str(weights), task="detect")
    args: dict[str, Any] = {"data": str(data.resolve()), "device": device, "batch": 1, "verbose": False}
    if imgsz:
        args["imgsz"] = imgsz
    args["plots"] = OFFLINE_TRAIN_ARGS["plots"]
    # Ultralytics writes a val folder even without plots; a scratch one, so eval leaves nothing in the cwd.
    with tempfile.TemporaryDirectory(prefix="cityops-val-") as scratch:
        metrics = model.val(**args, project=scratch, name="val")
    return {
        "weights": str(weights),
        "data": str(data),
        "map50": round(float(metrics.box.map50), 4),
        "map50_95": round(float(metrics.box.map), 4),
    }


def event_eval_function() -> Callable[..., Any]:
    problems = []
    for target in EVENT_EVAL_ENTRY_POINTS:
        module_name, func_name = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            problems.append(f"{module_name}: {exc}")
            continue
        func = getattr(module, func_name, None)
        if callable(func):
            return func
        problems.append(f"{module_name} has no {func_name}()")
    raise EventEvalUnavailable(
        "the edge's event-level evaluation (`cityops edge eval LABELS`) is not available in this install; "
        f"looked for {', '.join(EVENT_EVAL_ENTRY_POINTS)} ({'; '.join(problems)})"
    )


def event_metrics(labels: Path, model: str | None = None) -> Any:
    if not labels.exists():
        raise ValueError(f"event labels {labels} not found")
    return event_eval_function()(labels, model=model)
