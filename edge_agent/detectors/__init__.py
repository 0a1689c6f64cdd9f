"""Object detectors: one small interface, a registry keyed by the manifest's output layout, one file per decoder."""

from edge_agent.detectors.base import Detector, DetectorOptions
from edge_agent.detectors.registry import create_detector

__all__ = ["Detector", "DetectorOptions", "create_detector"]
