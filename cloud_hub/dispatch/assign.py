"""Who gets a new work order, pure: the pool of officers for the place (its grid's officers on duty, else the
fallbacks of rules/hub/routing.yaml: the neighbouring grids' officers, the grid's supervisor), then load balancing
inside the pool (fewest open orders, ties in turn after the last one the pool was given), else the district's
commander queue. Every step taken becomes the audit note of the order.

The database part (open-order counts, the round-robin turn shared by replicas) is `cloud_hub.dispatch.store`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cloud_hub.dispatch.routing import GridIndex
from cloud_hub.rules.models import Fallback

PoolKind = Literal["grid", "neighbour_grids", "supervisor", "queue"]


@dataclass(frozen=True, slots=True)
class Pool:
    """Where an order goes: officers to balance among (`rotation` names their shared turn), one supervisor, or
    nobody (the commander queue). `steps` says what was tried, for the audit note."""

    kind: PoolKind
    officers: tuple[str, ...] = ()
    rotation: str | None = None
    steps: tuple[str, ...] = ()
    duty_grid: Mapping[str, str] = field(default_factory=dict)  # officer -> the grid they are on duty in

    @property
    def balanced(self) -> bool:
        """Several officers to choose from: open-order counts and the shared turn decide (one needs neither)."""
        return self.kind in ("grid", "neighbour_grids") and len(self.officers) > 1


@dataclass(frozen=True, slots=True)
class Route:
    assignee: str | None  # None: registered, waiting in `queue`
    queue: str | None  # the district whose commanders dispatch it (None: city-wide), only without an assignee
    note: str


def pool_for(
    index: GridIndex, grid_id: str | None, at: datetime, fallbacks: Sequence[Fallback], no_grid_reason: str = ""
) -> Pool:
    """The pool for a place in `grid_id` (None: outside every grid, `no_grid_reason` says why)."""
    if grid_id is None:
        return Pool("queue", steps=(no_grid_reason or "the place lies in no grid",))
    on_duty = index.officers_on_duty(grid_id, at)
    if on_duty:
        return Pool("grid", tuple(on_duty), rotation=grid_id, duty_grid=dict.fromkeys(on_duty, grid_id))
    steps = [f"no officer on duty in grid {grid_id}"]
    for fallback in fallbacks:
        if fallback == "neighbour_grids":
            neighbours = index.neighbours(grid_id)
            duty: dict[str, str] = {}
            for neighbour in neighbours:
                for officer in index.officers_on_duty(neighbour, at):
                    duty.setdefault(officer, neighbour)
            if duty:
                return Pool(
                    "neighbour_grids", tuple(sorted(duty)), f"{grid_id}>neighbours", tuple(steps), duty_grid=duty
                )
            listed = ", ".join(neighbours)
            steps.append(f"nor in its neighbouring grids ({listed})" if neighbours else "it has no neighbouring grid")
        elif fallback == "supervisor":
            supervisor = index.supervisor(grid_id)
            if supervisor:
                return Pool("supervisor", (supervisor,), steps=tuple(steps))
            steps.append(f"grid {grid_id} has no (active) supervisor")
    return Pool("queue", steps=tuple(steps))


def balance(officers: Sequence[str], open_orders: Mapping[str, int], last: str | None) -> str:
    """The officer with the fewest open orders; among equals the first after `last` in username order (round
    robin, wrapping around), or the first when the pool has no turn yet."""
    if not officers:
        raise ValueError("balance needs at least one officer")
    fewest = min(open_orders.get(o, 0) for o in officers)
    tied = sorted(o for o in officers if open_orders.get(o, 0) == fewest)
    if last is not None:
        for officer in tied:
            if officer > last:
                return officer
    return tied[0]


def assign(
    pools: Sequence[tuple[Pool, str | None]], open_orders: Mapping[str, int], turns: Mapping[str, str | None]
) -> tuple[list[Route], dict[str, str]]:
    """Route each (pool, district) in order; each order counts for the next ones (a batch of four cars in one grid
    with two officers gives two each). Returns the routes and the new turn of every pool that was used."""
    counts = dict(open_orders)
    turns_now = dict(turns)
    used: dict[str, str] = {}
    routes = []
    for pool, district in pools:
        steps = list(pool.steps)
        if pool.kind == "queue":
            where = f"district {district}" if district else "the city (no district known)"
            steps.append(f"left registered in the commander queue of {where}")
            routes.append(Route(None, district, "; ".join(steps)))
            continue
        if pool.kind == "supervisor":
            who = pool.officers[0]
            steps.append(f"dispatched to {who}, the grid's supervisor")
        else:
            where = "neighbouring grid" if pool.kind == "neighbour_grids" else "grid"
            if pool.balanced:
                assert pool.rotation is not None
                who = balance(pool.officers, counts, turns_now.get(pool.rotation))
                turns_now[pool.rotation] = used[pool.rotation] = who
                load = ", ".join(f"{o} {counts.get(o, 0)}" for o in pool.officers)
                steps.append(
                    f"dispatched to {who} (on duty in {where} {pool.duty_grid.get(who, '?')}; fewest open orders,"
                    f" then in turn: {load})"
                )
            else:
                who = pool.officers[0]
                steps.append(f"dispatched to {who} (on duty in {where} {pool.duty_grid.get(who, '?')})")
        counts[who] = counts.get(who, 0) + 1
        routes.append(Route(who, None, "; ".join(steps)))
    return routes, used
