"""The work-order lifecycle as a pure function: (state, requested status, actor) -> new state and audit steps.

Main line (urban grid-management practice):
    reported -> registered -> dispatched -> accepted -> on_site -> resolved -> verified -> closed
Side lines:
    false_alarm  final. A reviewer (commander/admin) from any open state; the assigned officer only before
                 resolving (dispatched, accepted, on_site, escalated): once resolved, a reviewer decides.
    returned     verification failed: resolved -> returned, back to the same officer, who goes on site again.
    reassigned   to another officer; a passing state, the order ends in `dispatched` to the new assignee.
    escalated    SLA breached: to the grid's supervisor (who then handles it or reassigns it); an escalated order
                 that stays overdue escalates again, to the district's commander (escalated -> escalated).
    suspended    挂账, waiting on something outside the officer's control; resumed to the state it left.
    registered   "unassign": a reviewer takes the order back from whoever holds it (dispatched, accepted,
                 returned, escalated -> registered, no assignee), to dispatch it again later.
Verification (resolved -> verified/returned) must come from someone other than the officer who resolved it,
or from the system when a later detection shows the situation is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Status(StrEnum):
    REPORTED = "reported"
    REGISTERED = "registered"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    CLOSED = "closed"
    FALSE_ALARM = "false_alarm"
    RETURNED = "returned"
    REASSIGNED = "reassigned"
    ESCALATED = "escalated"
    SUSPENDED = "suspended"


FINAL = frozenset({Status.CLOSED, Status.FALSE_ALARM})
# "Open": someone still has to act before the situation counts as handled.
OPEN = frozenset(Status) - FINAL - {Status.VERIFIED}
# The SLA clock runs: the order waits for an officer or is held by one (not resolved, not suspended, not done).
CLOCK_RUNNING = frozenset(
    {Status.REGISTERED, Status.DISPATCHED, Status.ACCEPTED, Status.ON_SITE, Status.RETURNED, Status.ESCALATED}
)
# States in which an officer (or supervisor) holds the order and can be swapped out or suspended.
_HELD = frozenset({Status.DISPATCHED, Status.ACCEPTED, Status.ON_SITE, Status.RETURNED, Status.ESCALATED})
# Where the assignee may still call it a false alarm: before resolving it (afterwards a reviewer decides).
_BEFORE_RESOLVING = frozenset({Status.DISPATCHED, Status.ACCEPTED, Status.ON_SITE, Status.ESCALATED})
# Where a reviewer may take the order back to `registered` with nobody assigned ("unassign").
UNASSIGN_FROM = frozenset({Status.DISPATCHED, Status.ACCEPTED, Status.RETURNED, Status.ESCALATED})

SYSTEM_ROLE = "system"
REVIEWER_ROLES = frozenset({"commander", "admin"})


@dataclass(frozen=True, slots=True)
class Actor:
    username: str
    role: str  # admin | commander | officer | technician | system


SYSTEM = Actor("system", SYSTEM_ROLE)


@dataclass(frozen=True, slots=True)
class OrderState:
    status: Status
    assignee: str | None = None
    handled_by: str | None = None  # who resolved it last: may not verify it
    suspended_from: Status | None = None


@dataclass(frozen=True, slots=True)
class Step:
    from_status: Status
    to_status: Status


@dataclass(frozen=True, slots=True)
class Outcome:
    state: OrderState
    steps: tuple[Step, ...]


class TransitionError(Exception):
    """A transition that cannot be made; the message says why and what is possible instead."""


class IllegalTransition(TransitionError):
    """The lifecycle does not lead from the current status to the requested one (HTTP 409)."""


class NotPermitted(TransitionError):
    """The transition exists but this actor may not make it (HTTP 403)."""


class NoEscalationTarget(IllegalTransition):
    """`escalated` without anyone to escalate to (the grid has no supervisor, no commander for the district)."""


def _is_reviewer(actor: Actor) -> bool:
    return actor.role in REVIEWER_ROLES


def _is_assignee(state: OrderState, actor: Actor) -> bool:
    return state.assignee is not None and actor.username == state.assignee and actor.role != SYSTEM_ROLE


# Who may take each edge: "system", "reviewer" (commander/admin), "assignee" (whoever holds the order).
_EDGES: dict[tuple[Status, Status], frozenset[str]] = {
    (Status.REPORTED, Status.REGISTERED): frozenset({"system", "reviewer"}),
    (Status.REGISTERED, Status.DISPATCHED): frozenset({"system", "reviewer"}),
    (Status.DISPATCHED, Status.ACCEPTED): frozenset({"assignee"}),
    (Status.ESCALATED, Status.ACCEPTED): frozenset({"assignee"}),
    (Status.ACCEPTED, Status.ON_SITE): frozenset({"assignee"}),
    (Status.RETURNED, Status.ON_SITE): frozenset({"assignee"}),
    (Status.ON_SITE, Status.RESOLVED): frozenset({"assignee"}),
    (Status.RETURNED, Status.RESOLVED): frozenset({"assignee"}),
    (Status.RESOLVED, Status.VERIFIED): frozenset({"system", "reviewer"}),
    (Status.RESOLVED, Status.RETURNED): frozenset({"reviewer"}),
    (Status.VERIFIED, Status.CLOSED): frozenset({"system", "reviewer"}),
}
for _s in OPEN:
    _EDGES[(_s, Status.FALSE_ALARM)] = frozenset({"reviewer", "assignee"} if _s in _BEFORE_RESOLVING else {"reviewer"})
for _s in _HELD | {Status.REGISTERED, Status.SUSPENDED}:
    _EDGES[(_s, Status.REASSIGNED)] = frozenset({"reviewer"})
for _s in _HELD | {Status.REGISTERED}:  # escalated -> escalated: one level further up
    _EDGES[(_s, Status.ESCALATED)] = frozenset({"system", "reviewer"})
for _s in UNASSIGN_FROM:
    _EDGES[(_s, Status.REGISTERED)] = frozenset({"reviewer"})
for _s in _HELD:
    _EDGES[(_s, Status.SUSPENDED)] = frozenset({"reviewer", "assignee"})


def _edge_roles(state: OrderState, to: Status) -> frozenset[str] | None:
    if state.status is Status.SUSPENDED and state.suspended_from is not None and to is state.suspended_from:
        return frozenset({"reviewer", "assignee"})  # resume where it left off
    return _EDGES.get((state.status, to))


def _may(kinds: frozenset[str], state: OrderState, actor: Actor) -> bool:
    return (
        ("system" in kinds and actor.role == SYSTEM_ROLE)
        or ("reviewer" in kinds and _is_reviewer(actor))
        or ("assignee" in kinds and _is_assignee(state, actor))
    )


def targets(state: OrderState) -> list[Status]:
    """Statuses reachable from `state` in one request, whoever asks."""
    out = [to for (frm, to) in _EDGES if frm is state.status]
    if state.status is Status.SUSPENDED and state.suspended_from is not None:
        out.append(state.suspended_from)
    return sorted(set(out), key=list(Status).index)


def allowed_targets(state: OrderState, actor: Actor) -> list[Status]:
    """Statuses this actor may move the order to now (for the UI's buttons)."""
    out = []
    for to in targets(state):
        try:
            transition(state, to, actor, assignee="?" if to in (Status.REASSIGNED, Status.ESCALATED) else None)
        except TransitionError:
            continue
        out.append(to)
    return out


def transition(state: OrderState, to: Status | str, actor: Actor, assignee: str | None = None) -> Outcome:
    """Apply one requested transition.

    `assignee` is required for `reassigned` (the new officer), `escalated` (the supervisor) and `dispatched`
    when nobody holds the order yet. Raises IllegalTransition or NotPermitted with a message naming the fix.
    """
    try:
        target = Status(to)
    except ValueError:
        raise IllegalTransition(f"unknown status {to!r}; one of {', '.join(s.value for s in Status)}") from None
    kinds = _edge_roles(state, target)
    if kinds is None:
        possible = ", ".join(s.value for s in targets(state)) or "none (final state)"
        raise IllegalTransition(
            f"work order is {state.status.value}; cannot go to {target.value} (possible: {possible})"
        )
    if not _may(kinds, state, actor):
        raise NotPermitted(_refusal(kinds, state, actor, target))
    if target in (Status.VERIFIED, Status.RETURNED) and actor.username == state.handled_by:
        raise NotPermitted(f"{actor.username} resolved this work order and may not verify it; another reviewer must")

    step = Step(state.status, target)
    if target is Status.REASSIGNED:
        if not assignee:
            raise IllegalTransition("reassigned needs the new assignee")
        if assignee == state.assignee:
            raise IllegalTransition(f"work order is already assigned to {assignee}")
        new = replace(state, status=Status.DISPATCHED, assignee=assignee, handled_by=None, suspended_from=None)
        return Outcome(new, (step, Step(Status.REASSIGNED, Status.DISPATCHED)))
    if target is Status.ESCALATED:
        if not assignee:
            raise NoEscalationTarget("escalated needs the supervisor to escalate to (the grid has none configured)")
        if assignee == state.assignee:
            raise IllegalTransition(f"work order is already with {assignee}; escalate it to someone else")
        return Outcome(replace(state, status=target, assignee=assignee, suspended_from=None), (step,))
    if target is Status.REGISTERED and state.status is not Status.REPORTED:  # unassign
        return Outcome(replace(state, status=target, assignee=None, handled_by=None, suspended_from=None), (step,))
    if target is Status.DISPATCHED:
        who = assignee or state.assignee
        if not who:
            raise IllegalTransition("dispatched needs an assignee (an officer)")
        return Outcome(replace(state, status=target, assignee=who), (step,))
    if target is Status.SUSPENDED:
        return Outcome(replace(state, status=target, suspended_from=state.status), (step,))
    if state.status is Status.SUSPENDED:
        return Outcome(replace(state, status=target, suspended_from=None), (step,))
    if target is Status.RESOLVED:
        return Outcome(replace(state, status=target, handled_by=actor.username), (step,))
    return Outcome(replace(state, status=target), (step,))


def _refusal(kinds: frozenset[str], state: OrderState, actor: Actor, target: Status) -> str:
    who = []
    if "assignee" in kinds:
        who.append(f"the assignee ({state.assignee or 'nobody yet'})")
    if "reviewer" in kinds:
        who.append("a commander or admin")
    if "system" in kinds:
        who.append("the system")
    return (
        f"{actor.username} ({actor.role}) may not move this work order from {state.status.value} to "
        f"{target.value}; only {' or '.join(who)} may"
    )
