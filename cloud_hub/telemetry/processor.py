"""TelemetryProcessor: the ingest hook (cloud_hub.core.types.TelemetryProcessor) that runs the telemetry rules on
newly stored readings, inside the ingest transaction, and turns their actions into incident events.

Actions become synthetic `IngestedEvent`s (kind, subtype, phase, incident_key `telemetry/{device}/{sensor}/
{metric}/{rule}`, measurements, the device's registered location) handed to the hub's IncidentProcessor, so
telemetry incidents are merged, routed to the grid officer and given work orders exactly like edge events. The
rule state rows are locked in the same transaction: replicas and restarts continue from one state, and a reading,
its state change and the incident it opens commit together or not at all.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from prometheus_client import Counter

from cityops.contract.messages import Event, Location, RuleRef, new_event_id
from cloud_hub.core.types import EventProcessor, IngestedEvent, IngestedReading
from cloud_hub.incidents.store import (
    device_locations,
    orders_opened_by,
    set_order_severity_and_due,
    set_severity_by_last_event,
    sync_work_order_severity,
)
from cloud_hub.rules.loader import RulesStore
from cloud_hub.telemetry import store
from cloud_hub.telemetry.evaluator import Action, RuleState, evaluate_reading, evaluate_silence
from cloud_hub.telemetry.models import TelemetryRule
from cloud_hub.telemetry.modes import mode_enabled
from cloud_hub.telemetry.rules import TelemetryRulesStore, matching_rules
from cloud_hub.telemetry.store import SeriesKey
from cloud_hub.workorders.sla import due_at

log = logging.getLogger(__name__)

TELEMETRY_ACTIONS = Counter("cityops_telemetry_actions_total", "Incident actions of telemetry rules", ["phase"])
MAX_INCIDENT_KEY = 256  # the protocol's limit on incident_key


def incident_key(key: SeriesKey) -> str:
    full = f"telemetry/{key.device_id}/{key.sensor_id}/{key.metric}/{key.rule_id}"
    if len(full) <= MAX_INCIDENT_KEY:
        return full
    # Very long sensor or metric names: keep the key stable and unique, readable where it can be.
    digest = hashlib.sha256(full.encode()).hexdigest()[:32]
    return f"telemetry/{key.device_id}/{digest}/{key.rule_id}"


_Rated = tuple[SeriesKey, TelemetryRule, Action]  # an action with the series and rule it came from


@dataclass(frozen=True, slots=True)
class _Planned:
    key: SeriesKey
    rule: TelemetryRule
    action: Action
    event: IngestedEvent


class TelemetryProcessor:
    """Readings -> rule states -> incident events, all in the caller's transaction."""

    def __init__(
        self,
        rules: TelemetryRulesStore,
        incidents: EventProcessor,
        hub_rules: RulesStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._rules = rules
        self._incidents = incidents
        self._hub_rules = hub_rules
        self._clock = clock

    def __call__(self, conn: psycopg.Connection, readings: Sequence[IngestedReading]) -> None:
        rules = self._rules.current
        if not rules.rules or not readings:
            return
        series: dict[SeriesKey, list[IngestedReading]] = defaultdict(list)
        by_id: dict[str, TelemetryRule] = {}
        for reading in readings:
            for rule in matching_rules(rules, reading.device_id, reading.sensor_id, reading.metric):
                series[SeriesKey(reading.device_id, reading.sensor_id, reading.metric, rule.id)].append(reading)
                by_id[rule.id] = rule
        if not series:
            return
        rainstorm = mode_enabled(conn, "rainstorm")
        states = store.lock_states(conn, series)
        changed: dict[SeriesKey, RuleState] = {}
        actions: list[_Rated] = []
        for key in sorted(series):
            rule, state = by_id[key.rule_id], states[key]
            for reading in sorted(series[key], key=lambda r: r.ts):
                step = evaluate_reading(rule, state, reading.ts, reading.value, rainstorm)
                state = step.state
                actions.extend((key, rule, action) for action in step.actions)
            changed[key] = state
        self._act(conn, actions, rules.version)
        store.save_states(conn, changed)

    def sweep_missing(self, conn: psycopg.Connection, now: datetime | None = None) -> int:
        """Open missing-data incidents for series silent past their rule's `after_s`; returns how many opened.
        Run by one replica at a time (see cloud_hub.telemetry.watch)."""
        now = now or self._clock()
        rules = self._rules.current
        changed: dict[SeriesKey, RuleState] = {}
        actions: list[_Rated] = []
        for rule in rules.rules:
            if rule.missing_data is None:
                continue
            silent_since = now - timedelta(seconds=rule.missing_data.after_s)
            for key, state in store.lock_silent_states(conn, rule.id, silent_since).items():
                step = evaluate_silence(rule, state, now)
                if step.actions:
                    changed[key] = step.state
                    actions.extend((key, rule, action) for action in step.actions)
        self._act(conn, actions, rules.version)
        store.save_states(conn, changed)
        return len(actions)

    # ---- actions -> incidents ---------------------------------------------------------------------------------

    def _act(self, conn: psycopg.Connection, actions: list[_Rated], version: int) -> None:
        if not actions:
            return
        places = device_locations(conn, {key.device_id for key, _, _ in actions})
        planned = [
            _Planned(key, rule, action, _event(key, rule, action, version, places.get(key.device_id)))
            for key, rule, action in actions
        ]
        self._incidents(conn, [p.event for p in planned])
        self._apply_severity(conn, planned)
        for p in planned:
            TELEMETRY_ACTIONS.labels(p.action.phase).inc()
            log.info(
                "telemetry rule %s: %s %s (%s) on %s/%s/%s at %s",
                p.rule.id, p.action.phase, p.rule.kind, p.action.severity, p.key.device_id, p.key.sensor_id,
                p.key.metric, p.action.ts.isoformat(),
            )  # fmt: skip

    def _apply_severity(self, conn: psycopg.Connection, planned: list[_Planned]) -> None:
        """The rule's severity bands decide a telemetry incident's colour, not the camera rules of severity.yaml:
        set it on each incident our events touched (found by its last event), then on its work order. A work
        order created in this very transaction also gets the deadline of that severity."""
        changed = set_severity_by_last_event(
            conn,
            [(p.key.device_id, p.event.event.incident_key, p.event.event.event_id, p.action.severity) for p in planned],
        )
        if not changed:
            return
        started = [p.event.event.event_id for p in planned if p.action.phase == "start"]
        fresh = orders_opened_by(conn, changed, started)
        if fresh:
            sla, now = self._hub_rules.current.sla, self._clock()
            set_order_severity_and_due(
                conn, [(order_id, severity, due_at(sla, kind, severity, now)) for order_id, kind, severity in fresh]
            )
        sync_work_order_severity(conn, changed, self._hub_rules.current.sla, self._clock())


def _event(key: SeriesKey, rule: TelemetryRule, action: Action, version: int, place: Location | None) -> IngestedEvent:
    event = Event(
        event_id=new_event_id(int(action.ts.timestamp() * 1000)),
        seq=action.seq,
        ts=action.ts,
        kind=rule.kind,
        subtype=action.subtype,
        phase=action.phase,
        incident_key=incident_key(key),
        location=place,
        measurements=action.measurements,
        rule=RuleRef(id=rule.id, version=version),
        sensor_id=key.sensor_id,  # kept as an extra field: which sensor of the device reported it
    )
    return IngestedEvent(device_id=key.device_id, event=event)
