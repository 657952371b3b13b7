"""The attempt state machine of a node's runner: its table, pure, no server."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prsm_tasks.actors.attempt import (
    OWNING,
    TRANSITIONS,
    Attempt,
    IllegalAttemptTransition,
    Phase,
    Stop,
)
from prsm_tasks.actors.delivery import Delivery

# $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>
REPLY = "$JS.ACK.PRSM_WORK.q-normal.2.41.7.1700000000000000000.3"


def new_attempt() -> Attempt:
    msg: Any = SimpleNamespace(reply=REPLY, is_acked=False)
    return Attempt(Delivery(msg), interrupt=lambda: None)


def test_the_delivery_reads_its_reply_subject() -> None:
    delivery = new_attempt().delivery
    assert (delivery.seq, delivery.deliveries, delivery.stored_at) == (41, 2, 1700000000.0)


def test_every_phase_can_end_and_settled_is_the_end() -> None:
    assert TRANSITIONS[Phase.SETTLED] == frozenset()
    for phase in Phase:
        if phase is not Phase.SETTLED:
            assert Phase.SETTLED in TRANSITIONS[phase], phase
    assert set(TRANSITIONS) == set(Phase)


def test_only_a_stored_claim_or_outcome_owns_the_record() -> None:
    assert {Phase.CLAIMED, Phase.CHANGED, Phase.WRITTEN} == OWNING
    # nothing leads back to before the claim
    for phase in OWNING | {Phase.LOST}:
        assert not TRANSITIONS[phase] & {Phase.DELIVERED, Phase.UNCLAIMED, Phase.CLAIMING}


def test_the_late_claim_path() -> None:
    attempt = new_attempt()
    for phase in (Phase.UNCLAIMED, Phase.CLAIMING, Phase.CLAIMED, Phase.WRITTEN, Phase.SETTLED):
        attempt.move(phase)
    assert attempt.phase is Phase.SETTLED


def test_an_edge_the_table_lacks_is_refused() -> None:
    attempt = new_attempt()
    attempt.move(Phase.CLAIMED)
    attempt.move(Phase.LOST)
    with pytest.raises(IllegalAttemptTransition):
        attempt.move(Phase.CLAIMED)  # a lost attempt never owns the record again
    with pytest.raises(IllegalAttemptTransition):
        new_attempt().move(Phase.WRITTEN)  # no outcome without a claim (or a held one)


def test_a_move_after_the_end_changes_nothing() -> None:
    attempt = new_attempt()
    attempt.move(Phase.UNCLAIMED)
    attempt.move(Phase.CLAIMING)
    attempt.move(Phase.SETTLED)  # a shutdown let go while the late claim was in flight
    attempt.move(Phase.CLAIMED)  # that claim lands afterwards
    assert attempt.phase is Phase.SETTLED


def test_cancel_beats_a_timeout_and_shutdown_beats_both() -> None:
    attempt = new_attempt()
    attempt.stop_for(Stop.TIMEOUT)
    attempt.stop_for(Stop.CANCEL)
    assert attempt.stop is Stop.CANCEL
    attempt.stop_for(Stop.TIMEOUT)
    assert attempt.stop is Stop.CANCEL
    attempt.stop_for(Stop.SHUTDOWN)
    assert attempt.stop is Stop.SHUTDOWN


@given(st.lists(st.sampled_from(list(Phase)), max_size=20))
def test_a_walk_only_follows_the_table(steps: list[Phase]) -> None:
    attempt = new_attempt()
    for to in steps:
        before = attempt.phase
        try:
            attempt.move(to)
        except IllegalAttemptTransition:
            assert to not in TRANSITIONS[before]
            assert attempt.phase is before
            continue
        assert (
            attempt.phase is to if before is not Phase.SETTLED else attempt.phase is Phase.SETTLED
        )
        assert before is Phase.SETTLED or to is before or to in TRANSITIONS[before]
