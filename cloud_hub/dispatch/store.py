"""Data access for dispatch: the round-robin turns every hub replica shares, officers' open-order counts, and `route`,
the two around the pure `assign`.

Lock order (see cloud_hub/ingest/storage.py and cloud_hub/incidents/processor.py): a batch takes its rotation rows
after its place and situation locks and before it creates work orders; nothing waits for a situation while
holding a rotation row, so they add no cycle. Two replicas dispatching into the same grid take turns here, and
the second counts the first one's committed orders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import psycopg

from cloud_hub.dispatch.assign import Pool, Route, assign
from cloud_hub.workorders.state_machine import CLOCK_RUNNING, Status

# Orders an officer is working on (not waiting for a commander, not paused, not waiting for review).
LOAD_STATUSES: tuple[str, ...] = tuple(sorted(s.value for s in CLOCK_RUNNING - {Status.REGISTERED}))


def lock_turns(conn: psycopg.Connection, pool_keys: Iterable[str]) -> dict[str, str | None]:
    """Lock the pools' rotation rows (created when missing) until the transaction ends, in sorted order; returns
    pool -> the officer it gave its last order to (None: none yet)."""
    keys = sorted(set(pool_keys))
    if not keys:
        return {}
    rows = conn.execute(
        # DO UPDATE (a no-op write) locks an existing row like FOR UPDATE and returns it in the same statement.
        "INSERT INTO dispatch_rotation (pool_key) SELECT k FROM unnest(%s::text[]) AS k ORDER BY k"
        " ON CONFLICT (pool_key) DO UPDATE SET pool_key = EXCLUDED.pool_key RETURNING pool_key, last_assignee",
        (keys,),
    ).fetchall()
    return {key: last for key, last in rows}


def save_turns(conn: psycopg.Connection, turns: Mapping[str, str]) -> None:
    if turns:
        keys = sorted(turns)
        conn.execute(
            "UPDATE dispatch_rotation r SET last_assignee = t.last, updated_at = now()"
            " FROM unnest(%s::text[], %s::text[]) AS t(k, last) WHERE r.pool_key = t.k",
            (keys, [turns[k] for k in keys]),
        )


def open_order_counts(conn: psycopg.Connection, usernames: Iterable[str]) -> dict[str, int]:
    """username -> orders they hold and work on now (dispatched, accepted, on site, returned, escalated)."""
    names = sorted(set(usernames))
    if not names:
        return {}
    rows = conn.execute(
        "SELECT assignee, count(*) FROM work_orders WHERE assignee = ANY(%s) AND status = ANY(%s) GROUP BY assignee",
        (names, list(LOAD_STATUSES)),
    ).fetchall()
    return {name: int(n) for name, n in rows}


def route(conn: psycopg.Connection, pools: Sequence[tuple[Pool, str | None]]) -> list[Route]:
    """A route for each (pool, district), in order: the balanced pools' turns locked (replicas continue one
    rotation), their officers' open orders counted, `assign` deciding, the turns that moved on saved."""
    balanced = [pool for pool, _ in pools if pool.balanced]
    turns = lock_turns(conn, {p.rotation for p in balanced if p.rotation})
    counts = open_order_counts(conn, {officer for p in balanced for officer in p.officers})
    routes, used = assign(pools, counts, turns)
    save_turns(conn, used)
    return routes
