"""Detector plugins keyed by the manifest's `output.layout`; a plugin that fails to import is logged, not fatal."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from edge_agent.config import ConfigError
from edge_agent.detectors.base import DetectorOptions, OnnxDetector
from edge_agent.models.manifest import ModelSpec

log = logging.getLogger(__name__)

# layout -> "module:Class"; imported on demand so one broken plugin does not take the others down.
PLUGINS: dict[str, str] = {
    "yolox": "edge_agent.detectors.yolox:YoloxDetector",
    "nanodet": "edge_agent.detectors.nanodet:NanodetDetector",
    "ultralytics": "edge_agent.detectors.ultralytics:UltralyticsDetector",
}


def detector_class(layout: str) -> type[OnnxDetector]:
    target = PLUGINS.get(layout)
    if target is None:
        raise ConfigError(f"no object detector for output layout {layout!r}; detectors exist for: {', '.join(PLUGINS)}")
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        log.error("detector plugin %s cannot be imported: %s", module_name, exc)
        raise ConfigError(f"detector for layout {layout!r} is unavailable on this box: {exc}") from exc
    return getattr(module, class_name)


def create_detector(spec: ModelSpec, path: Path, options: DetectorOptions) -> OnnxDetector:
    if spec.task != "detection":
        raise ConfigError(f"model {spec.name!r} is a {spec.task} model, not an object detector")
    return detector_class(spec.output.layout)(spec, path, options)
