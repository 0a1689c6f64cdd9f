"""The hub's periodic jobs, chosen by what the database can do itself.

| job | where |
|---|---|
| `rollup_events_hourly` | no continuous aggregates (TimescaleDB Apache edition, plain PostgreSQL) |
| `rollup_sla_daily`, `event_places` | always (work orders and grid placement are the hub's business) |
| `sla_escalation` | always: overdue work orders to the grid's supervisor (`cloud_hub.workorders.escalation`) |
| `idempotency_prune` | always: the officer app's retry keys older than 7 days |
| `live_prune` | always: live-channel messages older than `live_retention_s` (replay window) |
| `retention` | always: rollup tables; raw tables too where TimescaleDB has no retention policies; evidence |
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import psycopg

from cloud_hub.core.config import HubSettings
from cloud_hub.evidence.retention import sweep_orphan_evidence
from cloud_hub.evidence.store import EvidenceStore
from cloud_hub.live.store import prune as prune_live_messages
from cloud_hub.rules.loader import RulesError, RulesStore
from cloud_hub.rules.watch import fingerprint
from cloud_hub.scheduler.runner import Job
from cloud_hub.store.capabilities import Capabilities
from cloud_hub.store.places import refresh_event_places
from cloud_hub.store.policies import scheduler_handles_raw_retention
from cloud_hub.store.retention import enforce_all, raw_rules, rollup_rules
from cloud_hub.store.rollups import refresh_events_hourly
from cloud_hub.store.sla_rollup import refresh_sla_daily
from cloud_hub.workorders.escalation import escalate_overdue
from cloud_hub.workorders.idempotency import KEY_TTL, prune_idempotency_keys


def build_jobs(settings: HubSettings, caps: Capabilities, evidence: EvidenceStore) -> list[Job]:
    refresh_every = timedelta(seconds=settings.rollup_refresh_s)
    lookback = timedelta(hours=settings.rollup_lookback_h)
    jobs: list[Job] = []
    if not caps.continuous_aggregates:

        def events_hourly(conn: psycopg.Connection, now: datetime) -> str:
            return refresh_events_hourly(conn, now, lookback).describe()

        jobs.append(Job("rollup_events_hourly", refresh_every, events_hourly))

    def sla_daily(conn: psycopg.Connection, now: datetime) -> str:
        return refresh_sla_daily(conn, now, settings.rollup_timezone).describe()

    def places(conn: psycopg.Connection, now: datetime) -> str:
        return f"{refresh_event_places(conn, now)} event sources (re)placed"

    rules = rollup_rules(settings) + (raw_rules(settings) if scheduler_handles_raw_retention(caps) else [])
    grace = timedelta(hours=settings.evidence_orphan_grace_h)

    def retention(conn: psycopg.Connection, now: datetime) -> str:
        results = enforce_all(conn, rules, now)
        swept = sweep_orphan_evidence(conn, evidence, now, grace)
        return "; ".join([r.describe() for r in results] + [swept.describe()])

    hub_rules = RulesStore.from_settings_dir(settings.rules_dir)  # escalated orders get new SLA deadlines
    seen_rules = [fingerprint(hub_rules.directory)]

    def sla_escalation(conn: psycopg.Connection, now: datetime) -> str:
        if (mark := fingerprint(hub_rules.directory)) != seen_rules[0]:
            seen_rules[0] = mark
            with contextlib.suppress(RulesError):  # refused and logged by the store; the rules in force stay
                hub_rules.reload()
        return escalate_overdue(conn, now, sla=hub_rules.current.sla).describe()

    live_kept = timedelta(seconds=settings.live_retention_s)

    def live_prune(conn: psycopg.Connection, now: datetime) -> str:
        return f"{prune_live_messages(conn, now - live_kept)} live messages older than {live_kept} pruned"

    def idempotency_prune(conn: psycopg.Connection, now: datetime) -> str:
        return f"{prune_idempotency_keys(conn, now)} idempotency keys older than {KEY_TTL} pruned"

    jobs += [
        Job("rollup_sla_daily", refresh_every, sla_daily),
        Job("idempotency_prune", timedelta(hours=1), idempotency_prune),
        Job("live_prune", timedelta(seconds=60), live_prune),
        Job("sla_escalation", timedelta(seconds=settings.sla_escalation_s), sla_escalation),
        Job("event_places", refresh_every, places),
        Job("retention", timedelta(seconds=settings.retention_interval_s), retention),
    ]
    return jobs
