"""IncidentProcessor: the EventProcessor that turns newly stored events into incidents and work orders.

Runs inside the ingest transaction (cloud_hub.core.types.EventProcessor), so an event, its incident and the
dispatched work order commit together or not at all. Per batch it does a fixed number of set-based statements
(place locks and nearby incidents when situations start, situation locks, load, insert, update, sources, work
orders), whatever the batch size. Lock order: incidents/store.py.

Decisions the walk makes (pure, over the loaded incidents; `cloud_hub.incidents.nearby` for merging by place):
- a situation that starts near an open incident of the same kind joins it (rules/hub/merge.yaml);
- a situation that opened and ended before the hub could dispatch it (a replay after an outage) gets a work order
  left `registered` for review, without a deadline: nobody should race to a place where nothing is left, but the
  city still decides (a ticket from the evidence, an inspection, or a false alarm). The lifecycle has no edge
  that lets the system resolve an order: resolving is an officer's act with evidence;
- a situation that ends while its order is open is noted on the order ("situation no longer detected"); a
  resolved order is verified by the system (the later detection confirms the situation is gone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import groupby

import psycopg
from prometheus_client import Counter

from cityops.contract.messages import KNOWN_KINDS, Event
from cloud_hub.core.types import IngestedEvent
from cloud_hub.dispatch import store as dispatch_store
from cloud_hub.dispatch.assign import pool_for
from cloud_hub.dispatch.directory import GridDirectory
from cloud_hub.dispatch.routing import GridIndex
from cloud_hub.incidents import nearby, store
from cloud_hub.incidents.merge import Incident, absorb_all, open_incident
from cloud_hub.incidents.severity import classify
from cloud_hub.rules.loader import RulesStore
from cloud_hub.rules.models import HubRules, MergeRule, MergeRules
from cloud_hub.workorders import store as work_orders
from cloud_hub.workorders.sla import due_at
from cloud_hub.workorders.state_machine import SYSTEM, Status, TransitionError

log = logging.getLogger(__name__)

INCIDENTS_OPENED = Counter("cityops_incidents_opened_total", "Incidents opened", ["kind", "severity"])
INCIDENTS_JOINED = Counter("cityops_incidents_joined_total", "Situations merged into an incident by place", ["kind"])
WORK_ORDERS_CREATED = Counter("cityops_work_orders_created_total", "Work orders created", ["status"])

Key = tuple[str, str]  # (device_id, incident_key)


@dataclass(frozen=True, slots=True)
class _Opener:
    """A starting situation that may join an incident nearby: its place, rule and the keys of those it may join."""

    lon: float
    lat: float
    rule: MergeRule
    near: tuple[Key, ...] = ()


class _Walk:
    """The incidents one batch touches, as slots (several keys may feed one slot), and what changed."""

    def __init__(self, loaded: Mapping[Key, Incident], sources: Mapping[int, tuple[nearby.Source, ...]]) -> None:
        self.slots: list[Incident] = []
        self.sources: dict[int, dict[Key, nearby.Source]] = {}  # slot -> sources, for incidents fed by several
        self.new_sources: dict[int, dict[Key, datetime]] = {}  # slot -> sources that joined here, and when
        self.key_slot: dict[Key, int] = {}
        self.dirty: set[int] = set()
        self.ended: dict[int, tuple[str, datetime]] = {}  # stored incident id -> (who ended it, when)
        by_id: dict[int, int] = {}
        for key, incident in loaded.items():
            assert incident.id is not None
            slot = by_id.get(incident.id)
            if slot is None:
                slot = by_id[incident.id] = self.add(incident)
                if incident.id in sources:
                    self.sources[slot] = {s.key: s for s in sources[incident.id]}
            self.key_slot[key] = slot

    def add(self, incident: Incident) -> int:
        self.slots.append(incident)
        return len(self.slots) - 1

    def set(self, slot: int, incident: Incident) -> None:
        self.slots[slot] = incident
        self.dirty.add(slot)

    def candidate(self, slot: int) -> nearby.Candidate:
        incident = self.slots[slot]
        known = self.sources.get(slot)
        return nearby.Candidate(incident, tuple(known.values()) if known else (nearby.own_source(incident),))


class IncidentProcessor:
    """Merges events by (device_id, incident_key), and by place across keys, into incidents; a new incident gets a
    work order routed by `cloud_hub.dispatch.assign` (an officer on duty, a fallback, or the commander queue)."""

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
        places = store.camera_places(conn, {e.event.camera_id for e in ordered if e.event.camera_id})
        devices = store.device_places(conn, {e.device_id for e in ordered if e.event.location is None})

        openers = self._openers(conn, ordered, rules.merge, places, devices)
        candidate_keys = {key for opener in openers.values() for key in opener.near}
        loaded = self._lock_and_load(conn, keys, candidate_keys)
        multi = [i.id for i in loaded.values() if i.source_count > 1 and i.id is not None]
        walk = _Walk(loaded, store.sources_of(conn, multi) if multi else {})

        def classifier(kind: str, subtype: str | None, measurements: Mapping[str, float]) -> str:
            return classify(rules.severity, kind, subtype, measurements)

        new_near: dict[tuple[str, int, int], list[int]] = {}  # place cell -> slots opened here (kinds with a rule)
        for key, group in groupby(ordered, key=lambda e: (e.device_id, e.event.incident_key)):
            run = [item.event for item in group]
            at = 0
            while at < len(run):
                slot = walk.key_slot.get(key)
                incident = walk.slots[slot] if slot is not None else None
                event = run[at]
                if slot is not None and incident is not None and incident.status == "open":
                    if event.phase != "end":
                        # A run of non-end events on an open incident folds in one step: the common case under load.
                        stop = at + 1
                        while stop < len(run) and run[stop].phase != "end":
                            stop += 1
                        walk.set(slot, absorb_all(incident, run[at:stop], classifier))
                        at = stop
                    else:
                        self._end(walk, slot, key, absorb_all(incident, (event,), classifier), event)
                        at += 1
                    continue
                at += 1
                if slot is not None and incident is not None:  # its latest incident has ended (or was closed)
                    late = incident.ended_at is not None and event.ts <= incident.ended_at
                    if late or event.phase == "end":
                        walk.set(slot, absorb_all(incident, (event,), classifier))
                        continue
                opener = openers.get(event.event_id)
                if opener is not None and self._join(walk, key, event, opener, new_near, classifier):
                    continue
                opened = self._place(
                    open_incident(key[0], event, classifier),
                    places.get(event.camera_id or ""),
                    devices.get(key[0]),
                    index,
                )
                new_slot = walk.add(opened)
                walk.dirty.add(new_slot)
                walk.key_slot[key] = new_slot
                rule = rules.merge.for_kind(opened.kind)
                if rule is not None and opened.lon is not None and opened.lat is not None:
                    cell = nearby.place_cells(opened.kind, opened.lon, opened.lat, rule.distance_m)[4]  # its own
                    new_near.setdefault(cell, []).append(new_slot)

        self._write(conn, walk, index, rules, now)

    # ---- before the walk: who may join whom, and the locks ----------------------------------------------------

    @staticmethod
    def _openers(
        conn: psycopg.Connection,
        ordered: Sequence[IngestedEvent],
        rules: MergeRules,
        cameras: Mapping[str, store.CameraPlace],
        devices: Mapping[str, store.CameraPlace],
    ) -> dict[str, _Opener]:
        """Starting situations of kinds with a merge rule and a known place (event id -> opener), with the keys of
        the open incidents near them. Takes the place locks first: two replicas starting situations near each
        other take turns, and the later one finds the earlier one's incident."""
        found: dict[str, _Opener] = {}
        for item in ordered:
            event = item.event
            rule = rules.for_kind(event.kind) if event.phase == "start" else None
            if rule is None:
                continue
            lon, lat = _where(event, cameras.get(event.camera_id or ""), devices.get(item.device_id))
            if lon is not None and lat is not None:
                found[event.event_id] = _Opener(lon, lat, rule)
        if not found:
            return {}
        store.lock_places(
            conn,
            {cell for o in found.values() for cell in nearby.place_cells(o.rule.kind, o.lon, o.lat, o.rule.distance_m)},
        )
        ids = list(found)
        boxes = [
            (found[i].rule.kind, *nearby.search_box(found[i].lon, found[i].lat, found[i].rule.distance_m)) for i in ids
        ]
        near: dict[str, list[Key]] = {}
        for box, key in store.nearby_open(conn, boxes):
            near.setdefault(ids[box], []).append(key)
        return {i: replace(o, near=tuple(near.get(i, ()))) for i, o in found.items()}

    @staticmethod
    def _lock_and_load(conn: psycopg.Connection, keys: set[Key], candidates: set[Key]) -> dict[Key, Incident]:
        """Lock every situation the batch may write (its keys, the incidents they were merged into, the incidents
        its starting situations may join) in one sorted statement, then load them. A key merged between the
        unlocked look-up and the lock (another replica's join) is locked late and the load repeated."""
        wanted = keys | candidates
        store.lock_situations_merged(conn, wanted)
        locked = set(wanted)  # and the keys merged into: those show up below and are locked again (re-entrant)
        for _ in range(10):
            loaded = store.current_incidents(conn, wanted)
            missing = {(i.device_id, i.incident_key) for i in loaded.values()} - locked
            if not missing:
                return loaded
            # Mostly held already; a merge committed since the statement above is locked out of order here (rare;
            # PostgreSQL's deadlock check guards it, and the writer retries the batch).
            store.lock_situations(conn, missing)
            locked |= missing
        raise RuntimeError("incident merges kept changing under the batch; retrying it")

    # ---- the walk's decisions ---------------------------------------------------------------------------------

    @staticmethod
    def _end(walk: _Walk, slot: int, key: Key, absorbed: Incident, event: Event) -> None:
        """`key`'s source ended: the incident ends with its last live source."""
        sources = walk.sources.get(slot)
        ends = True
        if sources is not None:
            updated, ends = nearby.end_source(sources.values(), key)
            walk.sources[slot] = {s.key: s for s in updated}
            walk.new_sources.setdefault(slot, {})
        if ends:
            absorbed = replace(absorbed, status="ended", ended_at=event.ts)
            if absorbed.id is not None:
                walk.ended[absorbed.id] = (f"{key[0]} ({key[1]})", event.ts)
        walk.set(slot, absorbed)

    @staticmethod
    def _join(
        walk: _Walk,
        key: Key,
        event: Event,
        opener: _Opener,
        new_near: Mapping[tuple[str, int, int], list[int]],
        classifier: Callable[[str, str | None, Mapping[str, float]], str],
    ) -> bool:
        """Join the starting situation into an open incident nearby (stored, or opened earlier in this batch)."""
        slots = {walk.key_slot[k] for k in opener.near if k in walk.key_slot}
        for cell in nearby.place_cells(event.kind, opener.lon, opener.lat, opener.rule.distance_m):
            slots.update(new_near.get(cell, ()))
        if not slots:
            return False
        ordered = sorted(slots)
        candidates = [walk.candidate(slot) for slot in ordered]
        choice = nearby.choose(opener.rule, key[0], event, opener.lon, opener.lat, candidates)
        if choice is None:
            return False
        slot = ordered[choice.index]
        incident, sources = nearby.joined(candidates[choice.index], key[0], event, choice)
        walk.sources[slot] = {s.key: s for s in sources}
        walk.new_sources.setdefault(slot, {})[key] = event.ts
        walk.set(slot, absorb_all(incident, (event,), classifier))
        walk.key_slot[key] = slot
        INCIDENTS_JOINED.labels(event.kind if event.kind in KNOWN_KINDS else "other").inc()
        log.info(
            "%s %s joins incident %s (%s, %.0f m)", key[0], key[1], incident.id or "new",
            "the same object again" if choice.continuation else "another source", choice.distance_m,
        )  # fmt: skip
        return True

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

    # ---- after the walk: writes -------------------------------------------------------------------------------

    def _write(self, conn: psycopg.Connection, walk: _Walk, index: GridIndex, rules: HubRules, now: datetime) -> None:
        touched = sorted(walk.dirty)
        updates = [walk.slots[s] for s in touched if walk.slots[s].id is not None]
        inserts = [s for s in touched if walk.slots[s].id is None]
        # Updates first: ending an open incident frees its key for a new open one in the same batch.
        store.update_incidents(conn, updates)
        store.sync_work_order_severity(conn, [i.id for i in updates if i.id is not None], sla=rules.sla, now=now)
        new_ids = store.insert_incidents(conn, [walk.slots[s] for s in inserts])
        for slot, new_id in zip(inserts, new_ids, strict=True):
            walk.slots[slot] = replace(walk.slots[slot], id=new_id)
        self._save_sources(conn, walk)
        created = [walk.slots[s] for s in inserts]
        self._create_work_orders(conn, created, index, rules, now)
        self._situation_gone(conn, walk.ended)
        for incident in created:
            # Known kinds only as label values: a device inventing kinds must not grow the metric without bound.
            kind = incident.kind if incident.kind in KNOWN_KINDS else "other"
            INCIDENTS_OPENED.labels(kind, incident.severity).inc()

    @staticmethod
    def _save_sources(conn: psycopg.Connection, walk: _Walk) -> None:
        rows = []
        for slot, joined in walk.new_sources.items():
            incident = walk.slots[slot]
            assert incident.id is not None
            for source in walk.sources[slot].values():
                rows.append((incident.id, source, joined.get(source.key, incident.first_seen)))
        store.save_sources(conn, rows)

    @staticmethod
    def _create_work_orders(
        conn: psycopg.Connection, created: Sequence[Incident], index: GridIndex, rules: HubRules, now: datetime
    ) -> None:
        orders = []
        live = [i for i in created if i.status == "open"]
        pools = [(pool_for(index, i.grid_id, now, rules.routing.fallbacks, _why(i)), i.district) for i in live]
        routes = dispatch_store.route(conn, pools)
        route_of = {id(incident): route for incident, route in zip(live, routes, strict=True)}
        for incident in created:
            assert incident.id is not None
            route = route_of.get(id(incident))
            if route is None:  # it opened and ended before anyone could be sent: for review, no deadline
                assignee, queue, due = None, incident.district, None
                note = (
                    f"situation ended before it could be dispatched (seen {incident.first_seen:%Y-%m-%d %H:%M:%S}"
                    f" to {incident.ended_at or incident.last_seen:%H:%M:%S} UTC, reported late, e.g. replayed after"
                    " an outage): registered for review, no deadline"
                )
            else:
                assignee, queue, note = route.assignee, route.queue, route.note
                due = due_at(rules.sla, incident.kind, incident.severity, now)
                if assignee is None:
                    log.warning("incident %s (%s): %s", incident.id, incident.kind, note)
            orders.append(
                work_orders.NewWorkOrder(
                    incident_id=incident.id,
                    kind=incident.kind,
                    subtype=incident.subtype,
                    severity=incident.severity,
                    grid_id=incident.grid_id,
                    district=incident.district,
                    assignee=assignee,
                    due_at=due,
                    note=note,
                    queue=queue,
                )
            )
            WORK_ORDERS_CREATED.labels("dispatched" if assignee else "registered").inc()
        work_orders.create_work_orders(conn, orders)

    @staticmethod
    def _situation_gone(conn: psycopg.Connection, ended: Mapping[int, tuple[str, datetime]]) -> None:
        """Orders of situations that ended now: a resolved one is verified by the system (the later detection shows
        the situation gone); any other open one gets a note, and stays with its officer to confirm and resolve."""
        if not ended:
            return
        for order_id in store.resolved_orders(conn, ended):
            try:
                work_orders.apply_transition(
                    conn, order_id, Status.VERIFIED, SYSTEM, note="situation no longer detected by the camera"
                )
            except TransitionError as exc:  # e.g. changed concurrently; the reviewer verifies by hand
                log.info("work order %s not auto-verified: %s", order_id, exc)
        store.note_situation_ended(
            conn,
            {
                incident_id: f"situation no longer detected: {who} reported its end at {at:%Y-%m-%d %H:%M:%S} UTC;"
                " confirm on site and resolve, or a reviewer closes it"
                for incident_id, (who, at) in ended.items()
            },
        )


def _where(
    event: Event, camera: store.CameraPlace | None, device: store.CameraPlace | None
) -> tuple[float | None, float | None]:
    """The event's place: its own location, else its camera's, else its device's (as `_place` decides)."""
    if event.location is not None:
        return event.location.lon, event.location.lat
    for fallback in (camera, device):
        if fallback is not None and fallback.lon is not None and fallback.lat is not None:
            return fallback.lon, fallback.lat
    return None, None


def _why(incident: Incident) -> str:
    """Why the place has no grid, for the audit note a commander's colleague will read."""
    if incident.lon is None or incident.lat is None:
        return f"no location (the event has none and camera {incident.camera_id!r} is not registered with one)"
    return f"no grid contains ({incident.lon}, {incident.lat})"
