"""The ownership rules peer nodes and external workers share: pure, no server."""

from __future__ import annotations

import pytest

from prsm_tasks import models, ownership
from prsm_tasks.errors import ClaimLostError, TaskAlreadyFinishedError
from prsm_tasks.models import TaskRecord, TaskStatus
from prsm_tasks.ownership import Lease, Verdict, judge

ERROR = models.ErrorInfo(type="RuntimeError", message="boom")


def new_record(**fields: object) -> TaskRecord:
    base: dict[str, object] = {
        "task_id": "task_01abcdefghjkmnpqrstvwxyz0",
        "queue_name": "q",
        "created_at": 1.0,
        "enqueued_at": 1.0,
    }
    base.update(fields)
    return TaskRecord.model_validate(base)


@pytest.mark.parametrize("status", [TaskStatus.WAITING, TaskStatus.SCHEDULED, TaskStatus.COMPLETED])
def test_a_message_of_a_task_not_to_run_is_stale(status: TaskStatus) -> None:
    record = new_record(status=status)
    assert judge(record, message_seq=1, deliveries=1, now=2.0).verdict is Verdict.STALE


def test_an_enqueued_task_is_claimed_once_due() -> None:
    assert judge(new_record(), message_seq=1, deliveries=1, now=2.0).verdict is Verdict.CLAIM
    later = new_record(not_before=10.0)
    judgement = judge(later, message_seq=1, deliveries=1, now=4.0)
    assert judgement.verdict is Verdict.NOT_DUE
    assert judgement.delay_s == pytest.approx(6.0)
    almost = new_record(not_before=4.01)
    assert judge(almost, message_seq=1, deliveries=1, now=4.0).verdict is Verdict.CLAIM


def test_only_the_running_attempts_own_message_means_a_lapsed_lease() -> None:
    running = models.claim(new_record(), node_id="n1", now=2.0, message_seq=7)
    assert judge(running, message_seq=7, deliveries=2, now=3.0).verdict is Verdict.LAPSED
    # another message (a priority change, a re-publish), even redelivered, is a duplicate
    assert judge(running, message_seq=8, deliveries=3, now=3.0).verdict is Verdict.DUPLICATE


def test_a_record_without_message_sequence_falls_back_to_redelivery() -> None:
    running = models.claim(new_record(), node_id="n1", now=2.0)
    assert judge(running, message_seq=7, deliveries=1, now=3.0).verdict is Verdict.DUPLICATE
    assert judge(running, message_seq=7, deliveries=2, now=3.0).verdict is Verdict.LAPSED


def test_claimed_by_names_owner_and_message() -> None:
    running = models.claim(new_record(), node_id="n1", now=2.0, message_seq=7)
    assert ownership.claimed_by(running, "n1", 7)
    assert not ownership.claimed_by(running, "n2", 7)
    assert not ownership.claimed_by(running, "n1", 8)
    done = models.complete(running, result=None, now=3.0)
    assert not ownership.claimed_by(done, "n1", 7)


def test_an_outcome_is_rebased_onto_edited_metadata_only_while_ours() -> None:
    running = models.claim(new_record(), node_id="n1", now=2.0, message_seq=7)
    outcome = models.complete_fields(models.record_fields(running), result=1, now=3.0)
    edited = running.model_copy(update={"metadata": {"label": "x"}})
    rebased = ownership.rebase(outcome, edited, owner="n1", message_seq=7)
    assert rebased is not None
    assert rebased["metadata"] == {"label": "x"}
    assert rebased["status"] == TaskStatus.COMPLETED
    taken = models.take_over(running, node_id="n2", now=4.0, message_seq=7)
    assert ownership.rebase(outcome, taken, owner="n1", message_seq=7) is None


def test_an_external_lease_round_trips_and_names_its_holder() -> None:
    running = models.claim(new_record(), node_id=ownership.worker_node("w1"), now=2.0)
    lease = Lease(worker_id="w1", lease_s=30.0, expires_at=32.0, ack_subject="$JS.ACK.x")
    held = ownership.with_lease(running, lease)
    assert Lease.of(held) == lease
    assert ownership.held_by(held, "w1") == lease
    with pytest.raises(ClaimLostError):
        ownership.held_by(held, "w2")
    taken = models.take_over(held, node_id="peer", now=40.0)
    assert Lease.of(taken) is None  # a peer took it over: the worker's claim is gone
    with pytest.raises(ClaimLostError):
        ownership.held_by(taken, None)
    done = models.complete(held, result=None, now=5.0)
    with pytest.raises(TaskAlreadyFinishedError):
        ownership.held_by(done, "w1")
    assert ownership.with_lease(held, None).metadata == {}
