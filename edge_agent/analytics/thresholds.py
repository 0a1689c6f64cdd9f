"""Which detection scores reach which rule: the runtime threshold, lowered per class where a rule asks lower.

`runtime.score_threshold` is the agent-wide default cut. A rule may ask for lower scores of some classes (the
kitchen rule's `object_min_confidence` 0.1 for phones, which YOLOX-Nano scores around 0.11 while the default cut is
0.25): the detector then filters at the lowest score any rule asks for, and each rule is handed only the scores it
asked for, so a parking rule next to a kitchen rule never starts seeing boxes below the runtime threshold. Pure
functions over rule configs and detections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from edge_agent.analytics.build import AnyRuleConfig
from edge_agent.analytics.kitchen import KitchenRuleConfig
from edge_agent.detections import Detections


def rule_class_thresholds(config: AnyRuleConfig, runtime_threshold: float) -> dict[str, float]:
    """Per class of the rule: the least score it is handed (the runtime threshold unless the rule asks lower)."""
    if isinstance(config, KitchenRuleConfig):
        people = config.classes_of("person")
        return {
            name: min(runtime_threshold, config.min_confidence if name in people else config.object_min_confidence)
            for name in config.classes
        }
    return {name: min(runtime_threshold, config.min_confidence) for name in config.classes}


def class_floors(configs: Iterable[AnyRuleConfig], runtime_threshold: float) -> dict[str, float]:
    """Per class any of the rules names: the least score any of them is handed."""
    floors: dict[str, float] = {}
    for config in configs:
        for name, threshold in rule_class_thresholds(config, runtime_threshold).items():
            floors[name] = min(floors.get(name, threshold), threshold)
    return floors


def detection_floor(configs: Iterable[AnyRuleConfig], runtime_threshold: float) -> float:
    """The score the detector must keep: the runtime threshold, or the lowest score any rule asks for."""
    return min([runtime_threshold, *class_floors(configs, runtime_threshold).values()])


def scores_at_least(detections: Detections, thresholds: Mapping[str, float]) -> Detections:
    """The detections of the classes in `thresholds` that score at least their class's threshold."""
    if len(detections) == 0:
        return detections
    # Classes not named get an unreachable threshold, so they are dropped like before (class_mask).
    per_class = np.array([thresholds.get(name, np.inf) for name in detections.class_names], dtype=np.float64)
    return detections[detections.confidence >= per_class[detections.class_id]]
