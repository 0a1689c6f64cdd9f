"""IncidentProcessor: the EventProcessor that turns newly stored events into incidents and work orders.

Runs inside the ingest transaction (cloud_hub.core.types.EventProcessor), so an event, its incident and the
dispatched work order commit together or not at all. Per batch it does a fixed number of set-based statements
(lock, load, camera places, insert, update, work orders), whatever the batch size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from itertools import groupby

import psycopg
from prometheus_client import Counter

from cityops.contract.messages import KNOWN_KINDS
from cloud_hub.core.types import IngestedEvent
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.dispatch.routing import GridIndex
from cloud_hub.incidents import store
from cloud_hub.incidents.merge import Incident, absorb_all, merge
from cloud_hub.incidents.severity import classify
from cloud_hub.rules.loader import RulesStore
from cloud_hub.rules.models import HubRules
from cloud_hub.workorders import store as work_orders
from cloud_hub.workorders.sla import due_at
from cloud_hub.workorders.state_machine import SYSTEM, Status, TransitionError

log = logging.getLogger(__name__)

INCIDENTS_OPENED = Counter("cityops_incidents_opened_total", "Incidents opened", ["kind", "severity"])
WORK_ORDERS_CREATED = Counter("cityops_work_orders_created_total", "Work orders created", ["status"])


class IncidentProcessor:
    """Merges events by (device_id, incident_key) into incidents; a new incident gets a work order dispatched
    to the officer on duty in the grid containing it (or left `registered` for a commander when none is)."""

    def __init__(
        self,
        router: GridDirectory,
        rules: RulesStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._router = router
        self._rules = rules
        self._clock = clock

    def __call__(self, conn: psycopg.Connection, events: Sequence[IngestedEvent]) -> None:
        if not events:
            return
        rules = self._rules.current
        index = self._router.refresh_if_stale(conn)
        now = self._clock()
        ordered = sorted(events, key=lambda e: (e.device_id, e.event.incident_key, e.event.ts, e.event.seq))
        keys = {(e.device_id, e.event.incident_key) for e in ordered}

        store.lock_situations(conn, keys)
        current: dict[tuple[str, str], Incident | None] = dict(store.current_incidents(conn, keys))
        places = store.camera_places(conn, {e.event.camera_id for e in ordered if e.event.camera_id})
        devices = store.device_places(conn, {e.device_id for e in ordered if e.event.location is None})

        def classifier(kind: str, subtype: str | None, measurements: Mapping[str, float]) -> str:
            return classify(rules.severity, kind, subtype, measurements)

        # Walk each situation's events in time order; `pending` keeps every incident this batch touched,
        # in order, so a situation that ends and starts again yields an update and an insert. A run of non-end
        # events on an open incident is folded in one step (`absorb_all`): the common case under load.
        pending: list[Incident] = []
        latest: dict[tuple[str, str], int] = {}  # key -> index in pending of its latest incident
        ended_ids: set[int] = set()
        for key, group in groupby(ordered, key=lambda e: (e.device_id, e.event.incident_key)):
            device_id = key[0]
            run = [item.event for item in group]
            at = 0
            while at < len(run):
                incident = current.get(key)
                if incident is not None and incident.status == "open" and run[at].phase != "end":
                    stop = at + 1
                    while stop < len(run) and run[stop].phase != "end":
                        stop += 1
                    incident, action, ended_now = absorb_all(incident, run[at:stop], classifier), "update", False
                    at = stop
                else:
                    result = merge(incident, device_id, run[at], classifier)
                    incident, action, ended_now = result.incident, result.action, result.ended_now
                    at += 1
                if action == "open":
                    incident = self._place(
                        incident, places.get(incident.camera_id or ""), devices.get(device_id), index
                    )
                if action == "update" and key in latest:
                    pending[latest[key]] = incident
                else:
                    latest[key] = len(pending)
                    pending.append(incident)
                if ended_now and incident.id is not None:
                    ended_ids.add(incident.id)
                current[key] = incident

        updates = [i for i in pending if i.id is not None]
        inserts = [i for i in pending if i.id is None]
        # Updates first: ending an open incident frees its key for a new open one in the same batch.
        store.update_incidents(conn, updates)
        store.sync_work_order_severity(conn, [i.id for i in updates if i.id is not None], sla=rules.sla, now=now)
        new_ids = store.insert_incidents(conn, inserts)
        created = [replace(i, id=new_id) for i, new_id in zip(inserts, new_ids, strict=True)]
        self._create_work_orders(conn, created, index, rules, now)
        self._verify_gone(conn, ended_ids)
        for incident in created:
            # Known kinds only as label values: a device inventing kinds must not grow the metric without bound.
            kind = incident.kind if incident.kind in KNOWN_KINDS else "other"
            INCIDENTS_OPENED.labels(kind, incident.severity).inc()

    @staticmethod
    def _place(
        incident: Incident,
        camera: store.CameraPlace | None,
        device: store.CameraPlace | None,
        index: GridIndex,
    ) -> Incident:
        """Location: the event's, else the camera's registered one, else the device's; then the grid."""
        lon, lat = incident.lon, incident.lat
        for fallback in (camera, device):
            if (lon is None or lat is None) and fallback is not None and fallback.lon is not None:
                lon, lat = fallback.lon, fallback.lat
        grid = index.grid_for(lon, lat) if lon is not None and lat is not None else None
        district = grid.district_id if grid and grid.district_id else (camera.district if camera else None)
        return replace(incident, lon=lon, lat=lat, grid_id=grid.grid_id if grid else None, district=district)

    @staticmethod
    def _create_work_orders(
        conn: psycopg.Connection, created: Sequence[Incident], index: GridIndex, rules: HubRules, now: datetime
    ) -> None:
        orders = []
        for incident in created:
            assert incident.id is not None
            officer = index.officer_on_duty(incident.grid_id, now) if incident.grid_id else None
            if officer is None:
                log.warning(
                    "incident %s (%s): %s; work order left registered", incident.id, incident.kind, _why(incident)
                )
            orders.append(
                work_orders.NewWorkOrder(
                    incident_id=incident.id,
                    kind=incident.kind,
                    subtype=incident.subtype,
                    severity=incident.severity,
                    grid_id=incident.grid_id,
                    district=incident.district,
                    assignee=officer,
                    due_at=due_at(rules.sla, incident.kind, incident.severity, now),
                )
            )
            WORK_ORDERS_CREATED.labels("dispatched" if officer else "registered").inc()
        work_orders.create_work_orders(conn, orders)

    @staticmethod
    def _verify_gone(conn: psycopg.Connection, ended_ids: set[int]) -> None:
        """A resolved work order whose situation the camera now sees gone is verified by the system."""
        if not ended_ids:
            return
        rows = conn.execute(
            "SELECT id FROM work_orders WHERE incident_id = ANY(%s) AND status = %s ORDER BY id",
            (sorted(ended_ids), Status.RESOLVED.value),
        ).fetchall()
        for (order_id,) in rows:
            try:
                work_orders.apply_transition(
                    conn, order_id, Status.VERIFIED, SYSTEM, note="situation no longer detected by the camera"
                )
            except TransitionError as exc:  # e.g. changed concurrently; the reviewer verifies by hand
                log.info("work order %s not auto-verified: %s", order_id, exc)


def _why(incident: Incident) -> str:
    """Why nobody was dispatched, for the log line a commander's colleague will read."""
    if incident.lon is None or incident.lat is None:
        return f"no location (the event has none and camera {incident.camera_id!r} is not registered with one)"
    if incident.grid_id is None:
        return f"no grid contains ({incident.lon}, {incident.lat})"
    return f"no officer on duty in grid {incident.grid_id}"
