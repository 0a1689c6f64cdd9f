"""Work-order state machine: legal and illegal transitions, who may make them, audit steps."""

from __future__ import annotations

import pytest

from cloud_hub.workorders.state_machine import (
    OPEN,
    SYSTEM,
    Actor,
    IllegalTransition,
    NotPermitted,
    OrderState,
    Status,
    Step,
    allowed_targets,
    transition,
)

OFFICER = Actor("officer1", "officer")
OTHER_OFFICER = Actor("officer2", "officer")
COMMANDER = Actor("commander1", "commander")
ADMIN = Actor("admin", "admin")
TECH = Actor("tech1", "technician")
S = Status


def held(status: Status, **kw) -> OrderState:
    return OrderState(status=status, assignee="officer1", **kw)


@pytest.mark.parametrize(
    ("state", "to", "actor", "expected"),
    [
        (OrderState(S.REPORTED), S.REGISTERED, SYSTEM, S.REGISTERED),
        (OrderState(S.REPORTED), S.REGISTERED, COMMANDER, S.REGISTERED),
        (held(S.DISPATCHED), S.ACCEPTED, OFFICER, S.ACCEPTED),
        (held(S.ACCEPTED), S.ON_SITE, OFFICER, S.ON_SITE),
        (held(S.ON_SITE), S.RESOLVED, OFFICER, S.RESOLVED),
        (held(S.RESOLVED, handled_by="officer1"), S.VERIFIED, COMMANDER, S.VERIFIED),
        (held(S.RESOLVED, handled_by="officer1"), S.VERIFIED, SYSTEM, S.VERIFIED),
        (held(S.RESOLVED, handled_by="officer1"), S.RETURNED, ADMIN, S.RETURNED),
        (held(S.RETURNED), S.ON_SITE, OFFICER, S.ON_SITE),
        (held(S.RETURNED), S.RESOLVED, OFFICER, S.RESOLVED),
        (held(S.VERIFIED), S.CLOSED, COMMANDER, S.CLOSED),
        (held(S.VERIFIED), S.CLOSED, SYSTEM, S.CLOSED),
        (held(S.DISPATCHED), S.FALSE_ALARM, OFFICER, S.FALSE_ALARM),
        (held(S.ON_SITE), S.FALSE_ALARM, COMMANDER, S.FALSE_ALARM),
        (OrderState(S.REGISTERED), S.FALSE_ALARM, ADMIN, S.FALSE_ALARM),
        (held(S.ACCEPTED), S.SUSPENDED, OFFICER, S.SUSPENDED),
        (held(S.ON_SITE), S.SUSPENDED, COMMANDER, S.SUSPENDED),
    ],
)
def test_legal_transitions(state: OrderState, to: Status, actor: Actor, expected: Status) -> None:
    outcome = transition(state, to, actor)
    assert outcome.state.status is expected
    assert outcome.steps == (Step(state.status, to),)


@pytest.mark.parametrize(
    ("state", "to"),
    [
        (OrderState(S.REPORTED), S.DISPATCHED),  # must be registered first
        (held(S.DISPATCHED), S.RESOLVED),  # skips accepted and on_site
        (held(S.ACCEPTED), S.VERIFIED),
        (held(S.CLOSED), S.REGISTERED),
        (held(S.FALSE_ALARM), S.DISPATCHED),
        (held(S.VERIFIED), S.FALSE_ALARM),
        (held(S.CLOSED), S.FALSE_ALARM),
        (held(S.DISPATCHED), S.RETURNED),
        (held(S.DISPATCHED), S.CLOSED),
    ],
)
def test_illegal_transitions_name_the_possible_ones(state: OrderState, to: Status) -> None:
    with pytest.raises(IllegalTransition, match=f"cannot go to {to.value}"):
        transition(state, to, ADMIN, assignee="officer2")


def test_unknown_status_is_illegal_with_the_list_of_statuses() -> None:
    with pytest.raises(IllegalTransition, match=r"unknown status 'done'.*reported"):
        transition(held(S.DISPATCHED), "done", OFFICER)


@pytest.mark.parametrize(
    ("state", "to", "actor"),
    [
        (held(S.DISPATCHED), S.ACCEPTED, OTHER_OFFICER),  # not their work order
        (held(S.DISPATCHED), S.ACCEPTED, TECH),
        (held(S.ON_SITE), S.RESOLVED, COMMANDER),  # only the assignee resolves
        (held(S.DISPATCHED), S.FALSE_ALARM, OTHER_OFFICER),
        (held(S.RESOLVED, handled_by="officer1"), S.VERIFIED, OFFICER),  # an officer never verifies
        (held(S.RESOLVED, handled_by="officer9"), S.VERIFIED, OTHER_OFFICER),
        (OrderState(S.REPORTED), S.REGISTERED, OFFICER),
        (held(S.VERIFIED), S.CLOSED, OFFICER),
        (held(S.DISPATCHED), S.ESCALATED, OFFICER),
        (held(S.DISPATCHED), S.REASSIGNED, OFFICER),
        (held(S.DISPATCHED), S.ACCEPTED, SYSTEM),
    ],
)
def test_role_checks(state: OrderState, to: Status, actor: Actor) -> None:
    with pytest.raises(NotPermitted, match="may not move"):
        transition(state, to, actor, assignee="officer3")


def test_verification_by_the_officer_who_resolved_it_is_refused_even_as_commander() -> None:
    # A commander who resolved an escalated order themselves may not also verify it.
    state = OrderState(S.RESOLVED, assignee="commander1", handled_by="commander1")
    with pytest.raises(NotPermitted, match="resolved this work order"):
        transition(state, S.VERIFIED, COMMANDER)
    assert transition(state, S.VERIFIED, ADMIN).state.status is S.VERIFIED


def test_resolve_records_who_handled_it() -> None:
    assert transition(held(S.ON_SITE), S.RESOLVED, OFFICER).state.handled_by == "officer1"


def test_reassignment_passes_through_reassigned_and_ends_dispatched_to_the_new_officer() -> None:
    outcome = transition(held(S.ACCEPTED), S.REASSIGNED, COMMANDER, assignee="officer2")
    assert outcome.state == OrderState(S.DISPATCHED, assignee="officer2")
    assert outcome.steps == (Step(S.ACCEPTED, S.REASSIGNED), Step(S.REASSIGNED, S.DISPATCHED))


@pytest.mark.parametrize("assignee", [None, "officer1"])
def test_reassignment_needs_a_different_assignee(assignee: str | None) -> None:
    with pytest.raises(IllegalTransition):
        transition(held(S.ACCEPTED), S.REASSIGNED, COMMANDER, assignee=assignee)


def test_escalation_goes_to_the_supervisor_who_can_then_accept() -> None:
    escalated = transition(held(S.DISPATCHED), S.ESCALATED, SYSTEM, assignee="commander1").state
    assert escalated == OrderState(S.ESCALATED, assignee="commander1")
    assert transition(escalated, S.ACCEPTED, COMMANDER).state.status is S.ACCEPTED
    with pytest.raises(NotPermitted):
        transition(escalated, S.ACCEPTED, OFFICER)  # no longer theirs
    with pytest.raises(IllegalTransition, match="supervisor"):
        transition(held(S.DISPATCHED), S.ESCALATED, SYSTEM)


def test_suspend_and_resume_to_the_state_it_left() -> None:
    suspended = transition(held(S.ON_SITE), S.SUSPENDED, OFFICER).state
    assert suspended.suspended_from is S.ON_SITE
    with pytest.raises(IllegalTransition, match=r"possible: .*on_site"):
        transition(suspended, S.ACCEPTED, OFFICER)
    resumed = transition(suspended, S.ON_SITE, OFFICER).state
    assert resumed == OrderState(S.ON_SITE, assignee="officer1")


def test_dispatch_needs_an_assignee() -> None:
    with pytest.raises(IllegalTransition, match="assignee"):
        transition(OrderState(S.REGISTERED), S.DISPATCHED, COMMANDER)
    assert transition(OrderState(S.REGISTERED), S.DISPATCHED, SYSTEM, assignee="officer1").state.assignee == "officer1"


def test_false_alarm_reachable_from_every_open_state_by_a_reviewer() -> None:
    for status in OPEN - {S.REASSIGNED}:
        state = OrderState(status, assignee="officer1", suspended_from=S.ACCEPTED if status is S.SUSPENDED else None)
        assert transition(state, S.FALSE_ALARM, COMMANDER).state.status is S.FALSE_ALARM


def test_allowed_targets_per_actor() -> None:
    state = held(S.DISPATCHED)
    assert allowed_targets(state, OFFICER) == [S.ACCEPTED, S.FALSE_ALARM, S.SUSPENDED]
    assert allowed_targets(state, OTHER_OFFICER) == []
    assert set(allowed_targets(state, COMMANDER)) == {
        S.REGISTERED,  # unassign
        S.FALSE_ALARM,
        S.REASSIGNED,
        S.ESCALATED,
        S.SUSPENDED,
    }
