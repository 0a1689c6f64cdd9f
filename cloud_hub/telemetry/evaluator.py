"""The telemetry rule state machine. Pure: readings, previous state, rule and mode in; new state and actions out.

One state per (device, sensor, metric, rule). Phases:

    idle --breach--> pending --held for_s--> open --clear--> clearing --held clear_for_s--> idle (incident ends)
                         \\--no breach--> idle      ^--breach again--/

`for_s` / `clear_for_s` of 0 skip the pending / clearing phase. Rates of rise use the same phases (breach = the
value rose by more than `rise` within `within_s`). Missing-data rules open from `evaluate_silence` (a periodic
sweep) and end at the next reading. Readings not newer than the last one seen are ignored: the state machine only
moves forward in time, so a resent or late reading can never reopen or close anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from cloud_hub.incidents.severity import more_severe
from cloud_hub.telemetry.models import TelemetryRule, rate_limits, threshold_limits

Phase = Literal["idle", "pending", "open", "clearing"]
ActionPhase = Literal["start", "update", "end"]
# Rate-of-rise memory: at most this many window samples per series, so state rows stay small even for sensors
# that report every second. Dropping the oldest candidate only shortens the window (a smaller rise, never a
# false one).
MAX_WINDOW = 256


@dataclass(frozen=True, slots=True)
class RuleState:
    phase: Phase = "idle"
    since: datetime | None = None  # when the current pending / clearing phase began
    last_ts: datetime | None = None
    last_value: float | None = None
    severity: str | None = None  # of the open incident; only rises while it stays open
    peak: float | None = None  # most extreme measured value since the incident opened
    # Sliding-window minimum for rates of rise: (ts, value) with increasing ts and increasing value.
    window: tuple[tuple[datetime, float], ...] = ()
    seq: int = 0  # actions emitted so far (the synthetic events' seq)

    @property
    def incident_open(self) -> bool:
        return self.phase in ("open", "clearing")

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "since": self.since.isoformat() if self.since else None,
            "last_ts": self.last_ts.isoformat() if self.last_ts else None,
            "last_value": self.last_value,
            "severity": self.severity,
            "peak": self.peak,
            "window": [[ts.isoformat(), value] for ts, value in self.window],
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuleState:
        def ts(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            phase=data.get("phase", "idle"),
            since=ts(data.get("since")),
            last_ts=ts(data.get("last_ts")),
            last_value=data.get("last_value"),
            severity=data.get("severity"),
            peak=data.get("peak"),
            window=tuple((datetime.fromisoformat(t), float(v)) for t, v in data.get("window", [])),
            seq=int(data.get("seq", 0)),
        )


@dataclass(frozen=True, slots=True)
class Action:
    """Open (`start`), refresh (`update`) or end the series' incident."""

    phase: ActionPhase
    ts: datetime
    severity: str
    subtype: str
    seq: int
    measurements: dict[str, float]


@dataclass(frozen=True, slots=True)
class Step:
    state: RuleState
    actions: tuple[Action, ...] = ()


def _emit(rule: TelemetryRule, state: RuleState, phase: ActionPhase, ts: datetime, m: dict[str, float]) -> Step:
    seq = state.seq + 1
    severity = state.severity or rule.severity.default
    action = Action(phase, ts, severity, rule.incident_subtype, seq, m)
    return Step(replace(state, seq=seq), (action,))


def _advance(
    rule: TelemetryRule,
    state: RuleState,
    ts: datetime,
    measured: float,
    breach: bool,
    clear: bool,
    hold: tuple[float, float],
    m: dict[str, float],
) -> Step:
    """The phase machine shared by thresholds and rates. `measured` drives severity and the peak."""
    for_s, clear_for_s = hold
    rising = rule.threshold is None or rule.threshold.rising

    def more_extreme(a: float | None, b: float) -> float:
        return b if a is None else (max(a, b) if rising else min(a, b))

    if state.phase in ("idle", "pending"):
        if not breach:
            return Step(replace(state, phase="idle", since=None))
        since = state.since if state.phase == "pending" and state.since is not None else ts
        if (ts - since).total_seconds() < for_s:
            return Step(replace(state, phase="pending", since=since))
        opened = replace(state, phase="open", since=None, severity=rule.severity_for(measured), peak=measured)
        return _emit(rule, opened, "start", ts, {**m, "held_s": (ts - since).total_seconds()})

    # The incident is open (possibly clearing).
    if clear:
        since = state.since if state.phase == "clearing" and state.since is not None else ts
        if (ts - since).total_seconds() >= clear_for_s:
            ended = _emit(rule, state, "end", ts, m)
            return Step(replace(ended.state, phase="idle", since=None, severity=None, peak=None), ended.actions)
        return Step(replace(state, phase="clearing", since=since))
    severity = more_severe(state.severity or rule.severity.default, rule.severity_for(measured))
    peak = more_extreme(state.peak, measured)
    reopened = replace(state, phase="open", since=None, severity=severity, peak=peak)
    if severity != state.severity or peak != state.peak:  # worse than before: refresh the incident
        return _emit(rule, reopened, "update", ts, m)
    return Step(reopened)


def _slide(window: tuple[tuple[datetime, float], ...], ts: datetime, value: float, within_s: float) -> tuple:
    kept = [(t, v) for t, v in window if (ts - t).total_seconds() <= within_s]
    while kept and kept[-1][1] >= value:  # a later, lower value makes these useless as window minimums
        kept.pop()
    kept.append((ts, value))
    return tuple(kept[-MAX_WINDOW:])


def evaluate_reading(rule: TelemetryRule, state: RuleState, ts: datetime, value: float, rainstorm: bool) -> Step:
    """One reading of the rule's series (readings must come in time order; older ones are ignored)."""
    if state.last_ts is not None and ts <= state.last_ts:
        return Step(state)
    gap_s = (ts - state.last_ts).total_seconds() if state.last_ts is not None else None
    seen = replace(state, last_ts=ts, last_value=value)

    if rule.threshold is not None:
        limits = threshold_limits(rule.threshold, rainstorm)
        m = {rule.metric: value, "threshold": limits.value, "rainstorm": float(rainstorm)}
        hold = (limits.for_s, limits.clear_for_s)
        return _advance(rule, seen, ts, value, limits.breached(value), limits.cleared(value), hold, m)

    if rule.rate_of_rise is not None:
        rise_limit, within_s = rate_limits(rule.rate_of_rise, rainstorm)
        window = _slide(state.window, ts, value, within_s)
        rise = value - window[0][1]
        m = {rule.metric: value, "rise": rise, "rise_limit": rise_limit, "within_s": within_s,
             "rainstorm": float(rainstorm)}  # fmt: skip
        breach = rise > rise_limit
        hold = (0.0, rule.rate_of_rise.clear_for_s)
        return _advance(rule, replace(seen, window=window), ts, rise, breach, not breach, hold, m)

    # missing data: any reading ends the gap
    if state.incident_open:
        m = {rule.metric: value, "silent_s": gap_s or 0.0}
        # A reading buffered on the device may be stamped before the sweep opened the gap; end no earlier.
        ended = _emit(rule, seen, "end", max(ts, state.since or ts), m)
        return Step(replace(ended.state, phase="idle", since=None, severity=None), ended.actions)
    return Step(seen)


def evaluate_silence(rule: TelemetryRule, state: RuleState, now: datetime) -> Step:
    """The periodic check of a missing-data rule: open when the series has been silent for `after_s`."""
    spec = rule.missing_data
    if spec is None or state.incident_open or state.last_ts is None:
        return Step(state)
    silent_s = (now - state.last_ts).total_seconds()
    if silent_s < spec.after_s:
        return Step(state)
    opened = replace(state, phase="open", since=now, severity=rule.severity.default)
    return _emit(rule, opened, "start", now, {"silent_s": silent_s, "after_s": spec.after_s})
