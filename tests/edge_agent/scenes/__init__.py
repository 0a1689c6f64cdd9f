"""SYNTHETIC test scenes with ground truth, for the analytics that have no licensed real footage.

Everything here is generated (seeded, deterministic): a water gauge with a rising then receding waterline, a dry
road that floods, a kitchen floor with an after-hours rodent, people-like figures with and without a white hat.
Results measured on these scenes are SYNTHETIC results and must be reported as such; they show the analytics
behave as designed, not how they perform on real cameras.
"""

from tests.edge_agent.scenes.common import SceneFrame

__all__ = ["SceneFrame"]
