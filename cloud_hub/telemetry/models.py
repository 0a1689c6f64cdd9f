"""Schema of rules/hub/telemetry.yaml. Unknown keys are refused, so a typo fails at load time with its field.

Each rule watches one metric (optionally only some devices or sensors, by shell-style pattern) with exactly one
trigger: a `threshold` (with duration and hysteresis), a `rate_of_rise`, or `missing_data`. Every matching series
(device, sensor, metric) has its own state per rule and its own incident key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud_hub.rules.models import SEVERITY_RANK, Severity

Comparison = Literal[">", ">=", "<", "<="]
MISSING_DATA_SUBTYPE = "missing_data"
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Model):
    """`severity` applies when the measured value is at or beyond `at` (in the direction of the trigger)."""

    at: float
    severity: Severity


class SeveritySpec(_Model):
    default: Severity = "yellow"
    bands: list[Band] = Field(default_factory=list)


class ThresholdOverride(_Model):
    """Values that replace the normal ones while rainstorm mode is on (unset ones stay as they are)."""

    value: float | None = None
    clear_value: float | None = None
    for_s: float | None = Field(None, ge=0)
    clear_for_s: float | None = Field(None, ge=0)


class ThresholdSpec(_Model):
    """Opens when `metric compare value` holds for `for_s` seconds; closes (hysteresis) only once the reading is
    on the other side of `clear_value` (default: `value`) for `clear_for_s` seconds."""

    compare: Comparison
    value: float
    for_s: float = Field(0.0, ge=0, description="the breach must hold this long before an incident opens")
    clear_value: float | None = Field(None, description="closes only below (for > and >=) or above this value")
    clear_for_s: float = Field(0.0, ge=0, description="the reading must stay clear this long before closing")
    rainstorm: ThresholdOverride | None = None

    @property
    def rising(self) -> bool:
        return self.compare in (">", ">=")

    @model_validator(mode="after")
    def _hysteresis_on_the_safe_side(self) -> ThresholdSpec:
        for label, spec in (("", self), ("rainstorm.", self.rainstorm)):
            if spec is None:
                continue
            value = spec.value if spec.value is not None else self.value
            clear = spec.clear_value if spec.clear_value is not None else (self.clear_value if label else None)
            if clear is not None and (clear > value if self.rising else clear < value):
                side = "at or below" if self.rising else "at or above"
                raise ValueError(f"{label}clear_value {clear} must be {side} the threshold {value} (hysteresis)")
        if self.rainstorm is not None and self.rainstorm.value is not None:
            tighter = self.rainstorm.value <= self.value if self.rising else self.rainstorm.value >= self.value
            if not tighter:
                raise ValueError(
                    f"rainstorm.value {self.rainstorm.value} must be tighter than value {self.value} "
                    f"({'lower' if self.rising else 'higher'}): rainstorm mode only tightens thresholds"
                )
        return self


class RateOverride(_Model):
    rise: float | None = Field(None, gt=0)
    within_s: float | None = Field(None, gt=0)


class RateSpec(_Model):
    """Opens when the value rose by more than `rise` within the last `within_s` seconds (e.g. > 5 cm in
    600 s); closes once it no longer does for `clear_for_s` seconds."""

    rise: float = Field(gt=0)
    within_s: float = Field(gt=0)
    clear_for_s: float = Field(0.0, ge=0)
    rainstorm: RateOverride | None = None

    @model_validator(mode="after")
    def _rainstorm_tightens(self) -> RateSpec:
        if self.rainstorm is not None and self.rainstorm.rise is not None and self.rainstorm.rise > self.rise:
            raise ValueError(f"rainstorm.rise {self.rainstorm.rise} must not exceed rise {self.rise}")
        return self


class MissingDataSpec(_Model):
    """Opens (subtype `missing_data`) when the series has sent nothing for `after_s`; the next reading ends it."""

    after_s: float = Field(gt=0)


class TelemetryRule(_Model):
    id: str = Field(description="unique, lowercase: part of the incident key")
    metric: str = Field(min_length=1, description="reading metric, e.g. water_level_cm")
    device: str | None = Field(None, description="device id or shell pattern (wl-*); unset = any")
    sensor: str | None = Field(None, description="sensor id or shell pattern; unset = any")
    kind: str = Field(min_length=1, max_length=64, description="incident kind, e.g. waterlogging")
    subtype: str | None = Field(None, description="incident subtype; default: the rule id (missing_data for gaps)")
    threshold: ThresholdSpec | None = None
    rate_of_rise: RateSpec | None = None
    missing_data: MissingDataSpec | None = None
    severity: SeveritySpec = SeveritySpec()

    @model_validator(mode="after")
    def _one_trigger(self) -> TelemetryRule:
        if not _RULE_ID.match(self.id):
            raise ValueError(f"rule id {self.id!r} must be lowercase letters, digits, _ or - (at most 64)")
        triggers = [n for n in ("threshold", "rate_of_rise", "missing_data") if getattr(self, n) is not None]
        if len(triggers) != 1:
            raise ValueError(
                f"rule {self.id!r} needs exactly one of threshold, rate_of_rise, missing_data (has "
                f"{', '.join(triggers) or 'none'}); write separate rules for several triggers"
            )
        return self

    @property
    def incident_subtype(self) -> str:
        if self.missing_data is not None:
            return MISSING_DATA_SUBTYPE
        return self.subtype or self.id

    def severity_for(self, measured: float | None) -> str:
        """The most severe band the measured value reaches, else the default. Bands count upwards for rising
        thresholds and rates, downwards for falling thresholds (e.g. current < 0.1 A)."""
        best = self.severity.default
        if measured is None:
            return best
        falling = self.threshold is not None and not self.threshold.rising
        for band in self.severity.bands:
            reached = measured <= band.at if falling else measured >= band.at
            if reached and SEVERITY_RANK[band.severity] < SEVERITY_RANK[best]:
                best = band.severity
        return best


class TelemetryRules(_Model):
    version: int = 1
    rules: list[TelemetryRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> TelemetryRules:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice; ids must be unique")
            seen.add(rule.id)
        return self


@dataclass(frozen=True, slots=True)
class ThresholdLimits:
    """The threshold values in force (normal or rainstorm)."""

    compare: Comparison
    value: float
    clear_value: float
    for_s: float
    clear_for_s: float

    def breached(self, reading: float) -> bool:
        match self.compare:
            case ">":
                return reading > self.value
            case ">=":
                return reading >= self.value
            case "<":
                return reading < self.value
            case _:
                return reading <= self.value

    def cleared(self, reading: float) -> bool:
        return reading < self.clear_value if self.compare in (">", ">=") else reading > self.clear_value


def threshold_limits(spec: ThresholdSpec, rainstorm: bool) -> ThresholdLimits:
    value, clear, for_s, clear_for_s = spec.value, spec.clear_value, spec.for_s, spec.clear_for_s
    override = spec.rainstorm if rainstorm else None
    if override is not None:
        value = override.value if override.value is not None else value
        clear = override.clear_value if override.clear_value is not None else clear
        for_s = override.for_s if override.for_s is not None else for_s
        clear_for_s = override.clear_for_s if override.clear_for_s is not None else clear_for_s
    if clear is None or (clear > value if spec.rising else clear < value):
        clear = value  # a clear line past the (tightened) threshold would never let the incident open and close
    return ThresholdLimits(spec.compare, value, clear, for_s, clear_for_s)


def rate_limits(spec: RateSpec, rainstorm: bool) -> tuple[float, float]:
    """(rise, within_s) in force."""
    override = spec.rainstorm if rainstorm else None
    rise = override.rise if override is not None and override.rise is not None else spec.rise
    within = override.within_s if override is not None and override.within_s is not None else spec.within_s
    return rise, within
