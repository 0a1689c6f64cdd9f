"""The lifecycle as properties (hypothesis): no sequence of moves, legal or refused, leaves the model's invariants,
and a final state stays final; plus the edges this area added (unassign, escalating further, false alarm)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_hub.workorders.state_machine import (
    FINAL,
    SYSTEM,
    UNASSIGN_FROM,
    Actor,
    IllegalTransition,
    NotPermitted,
    OrderState,
    Status,
    TransitionError,
    allowed_targets,
    transition,
)

S = Status
OFFICER = Actor("officer1", "officer")
COMMANDER = Actor("commander1", "commander")
ACTORS = [SYSTEM, OFFICER, Actor("officer2", "officer"), COMMANDER, Actor("admin", "admin"), Actor("t", "technician")]
ASSIGNEES = [None, "officer1", "officer2", "commander1"]
HELD = {S.DISPATCHED, S.ACCEPTED, S.ON_SITE, S.RETURNED, S.ESCALATED}
NEEDS_ASSIGNEE = HELD | {S.RESOLVED}

moves = st.lists(
    st.tuples(st.sampled_from(list(Status)), st.sampled_from(ACTORS), st.sampled_from(ASSIGNEES)), max_size=60
)


def check_invariants(state: OrderState) -> None:
    assert state.status not in (S.REPORTED, S.REASSIGNED), "reported is only the start; reassigned only passes"
    if state.status is S.SUSPENDED:
        assert state.suspended_from in HELD
    else:
        assert state.suspended_from is None
    if state.status in NEEDS_ASSIGNEE:
        assert state.assignee is not None, f"{state.status} without an assignee"
    if state.status is S.REGISTERED:
        assert state.assignee is None
    if state.status is S.RESOLVED:
        assert state.handled_by is not None


@settings(max_examples=300)
@given(moves)
def test_no_sequence_of_moves_reaches_an_illegal_state(steps: list[tuple[Status, Actor, str | None]]) -> None:
    state = OrderState(S.REPORTED)
    for to, actor, assignee in steps:
        try:
            outcome = transition(state, to, actor, assignee=assignee)
        except TransitionError:
            continue
        assert state.status not in FINAL, f"moved out of final {state.status}"
        assert outcome.steps[0].from_status is state.status
        if outcome.state.status is S.VERIFIED:
            assert actor.username != state.handled_by, "the officer who resolved it verified it"
        if to is S.FALSE_ALARM and actor.role == "officer":
            assert state.status in {S.DISPATCHED, S.ACCEPTED, S.ON_SITE, S.ESCALATED}, "assignee after resolving"
        if actor.role == "technician":
            pytest.fail(f"a technician moved a work order to {to}")
        state = outcome.state
        check_invariants(state)


@given(st.sampled_from(sorted(FINAL)), st.sampled_from(ASSIGNEES), moves)
def test_a_final_state_stays_final(final: Status, assignee: str | None, steps: list) -> None:
    state = OrderState(final, assignee=assignee)
    assert allowed_targets(state, COMMANDER) == [] and allowed_targets(state, SYSTEM) == []
    for to, actor, new_assignee in steps:
        with pytest.raises(IllegalTransition):
            transition(state, to, actor, assignee=new_assignee)


def test_the_assignee_may_not_call_a_resolved_order_a_false_alarm() -> None:
    resolved = OrderState(S.RESOLVED, assignee="officer1", handled_by="officer1")
    with pytest.raises(NotPermitted, match="commander or admin"):
        transition(resolved, S.FALSE_ALARM, OFFICER)
    with pytest.raises(NotPermitted):
        transition(OrderState(S.RETURNED, assignee="officer1"), S.FALSE_ALARM, OFFICER)
    assert transition(resolved, S.FALSE_ALARM, COMMANDER).state.status is S.FALSE_ALARM
    assert S.FALSE_ALARM not in allowed_targets(resolved, OFFICER)
    assert S.FALSE_ALARM in allowed_targets(OrderState(S.ON_SITE, assignee="officer1"), OFFICER)


@pytest.mark.parametrize("status", sorted(UNASSIGN_FROM))
def test_a_reviewer_unassigns_back_to_registered(status: Status) -> None:
    state = OrderState(status, assignee="officer1", handled_by="officer1" if status is S.RETURNED else None)
    outcome = transition(state, S.REGISTERED, COMMANDER)
    assert outcome.state == OrderState(S.REGISTERED)
    with pytest.raises(NotPermitted):
        transition(state, S.REGISTERED, OFFICER)


def test_unassign_is_not_offered_on_site_or_when_finished() -> None:
    for status in (S.ON_SITE, S.RESOLVED, S.VERIFIED, S.SUSPENDED):
        with pytest.raises(IllegalTransition):
            transition(OrderState(status, assignee="officer1", suspended_from=S.ACCEPTED), S.REGISTERED, COMMANDER)


def test_an_escalated_order_escalates_further_but_not_to_who_holds_it() -> None:
    escalated = OrderState(S.ESCALATED, assignee="commander1")
    assert transition(escalated, S.ESCALATED, SYSTEM, assignee="chief").state == OrderState(S.ESCALATED, "chief")
    with pytest.raises(IllegalTransition, match="already with commander1"):
        transition(escalated, S.ESCALATED, SYSTEM, assignee="commander1")
    with pytest.raises(NotPermitted):
        transition(escalated, S.ESCALATED, OFFICER, assignee="chief")
