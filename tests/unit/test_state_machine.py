"""The task state machine: pure functions, no server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prsm_tasks import models
from prsm_tasks.errors import IllegalTransitionError
from prsm_tasks.models import (
    FINAL_STATUSES,
    AttemptOutcome,
    Band,
    ErrorInfo,
    TaskRecord,
    TaskStatus,
    band_for_priority,
)

ERROR = ErrorInfo(type="RuntimeError", message="boom")


def new_record(**fields: object) -> TaskRecord:
    base: dict[str, object] = {
        "task_id": "task_01abcdefghjkmnpqrstvwxyz0",
        "queue_name": "q",
        "created_at": 1.0,
        "enqueued_at": 1.0,
    }
    base.update(fields)
    return TaskRecord.model_validate(base)


def test_claim_starts_an_attempt() -> None:
    record = models.claim(new_record(), node_id="n1", now=2.0)
    assert record.status is TaskStatus.PROCESSING
    assert record.worker_node == "n1"
    assert record.started_at == 2.0
    assert [(a.number, a.node, a.outcome) for a in record.attempts] == [
        (1, "n1", AttemptOutcome.RUNNING)
    ]


def test_complete_closes_the_attempt_and_keeps_the_result() -> None:
    running = models.claim(new_record(), node_id="n1", now=2.0)
    done = models.complete(running, result={"x": 1}, now=3.5)
    assert done.status is TaskStatus.COMPLETED
    assert done.result == {"x": 1}
    assert done.progress == 1.0
    assert done.execution_time_seconds == 1.5
    assert done.attempts[-1].outcome is AttemptOutcome.COMPLETED
    assert done.attempts[-1].ended_at == 3.5


def test_retry_counts_and_requeues() -> None:
    running = models.claim(new_record(max_retries=1), node_id="n1", now=2.0)
    again = models.schedule_retry(running, error=ERROR, now=3.0, not_before=4.0)
    assert again.status is TaskStatus.ENQUEUED
    assert again.retry_count == 1
    assert again.not_before == 4.0
    assert again.error == ERROR
    second = models.claim(again, node_id="n2", now=4.0)
    assert second.attempt == 2
    with pytest.raises(IllegalTransitionError):
        models.schedule_retry(second, error=ERROR, now=5.0, not_before=6.0)


def test_take_over_counts_the_lost_attempt() -> None:
    running = models.claim(new_record(max_retries=1), node_id="dead", now=2.0)
    taken = models.take_over(running, node_id="n2", now=30.0)
    assert taken.status is TaskStatus.PROCESSING
    assert taken.worker_node == "n2"
    assert [a.outcome for a in taken.attempts] == [AttemptOutcome.LOST, AttemptOutcome.RUNNING]
    assert taken.retry_count == 1
    # a second loss exhausts max_retries=1: the task fails instead of looping forever
    failed = models.take_over(taken, node_id="n3", now=60.0)
    assert failed.status is TaskStatus.FAILED
    assert failed.error is not None and failed.error.type == "NodeLost"


def test_hand_back_is_not_a_retry() -> None:
    running = models.claim(new_record(), node_id="n1", now=2.0)
    back = models.hand_back(running, now=3.0)
    assert back.status is TaskStatus.ENQUEUED
    assert back.retry_count == 0
    assert back.attempts[-1].outcome is AttemptOutcome.INTERRUPTED


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_a_final_state_is_final(status: TaskStatus) -> None:
    record = new_record(status=status)
    for change in ALL_CHANGES:
        with pytest.raises(IllegalTransitionError):
            change(record)


def test_cancel_of_queued_and_running() -> None:
    queued = models.cancel(new_record(), now=2.0)
    assert queued.status is TaskStatus.CANCELLED
    assert queued.attempts == []
    running = models.claim(new_record(), node_id="n1", now=2.0)
    cancelled = models.cancel(running, now=3.0)
    assert cancelled.attempts[-1].outcome is AttemptOutcome.CANCELLED


@pytest.mark.parametrize(
    ("priority", "band"),
    [
        (1, Band.LOW),
        (3, Band.LOW),
        (4, Band.NORMAL),
        (6, Band.NORMAL),
        (7, Band.HIGH),
        (9, Band.HIGH),
        (10, Band.CRITICAL),
    ],
)
def test_priority_bands(priority: int, band: Band) -> None:
    assert band_for_priority(priority) is band


# --- properties ---------------------------------------------------------------------------

ALL_CHANGES = [
    lambda r: models.claim(r, node_id="n", now=10.0),
    lambda r: models.take_over(r, node_id="m", now=10.0),
    lambda r: models.report_progress(r, value=0.5, text="half"),
    lambda r: models.complete(r, result=1, now=10.0),
    lambda r: models.schedule_retry(r, error=ERROR, now=10.0, not_before=11.0),
    lambda r: models.hand_back(r, now=10.0),
    lambda r: models.finish_unsuccessfully(r, status=TaskStatus.FAILED, error=ERROR, now=10.0),
    lambda r: models.finish_unsuccessfully(r, status=TaskStatus.TIMEOUT, error=ERROR, now=10.0),
    lambda r: models.cancel(r, now=10.0),
]


@given(
    steps=st.lists(st.integers(min_value=0, max_value=len(ALL_CHANGES) - 1), max_size=30),
    max_retries=st.integers(min_value=0, max_value=3),
)
def test_no_path_leaves_a_final_state(steps: list[int], max_retries: int) -> None:
    record = new_record(max_retries=max_retries)
    final_seen: TaskRecord | None = None
    for step in steps:
        try:
            record = ALL_CHANGES[step](record)
        except IllegalTransitionError:
            continue
        if final_seen is not None:
            pytest.fail(f"{final_seen.status} was left for {record.status}")
        if record.is_final:
            final_seen = record
        assert record.retry_count <= record.max_retries
        assert all(a.ended_at is not None for a in record.attempts[:-1])


@given(steps=st.lists(st.integers(min_value=0, max_value=len(ALL_CHANGES) - 1), max_size=12))
def test_cancel_beats_a_late_completion(steps: list[int]) -> None:
    """Whatever happened before, once cancelled a completion is refused."""
    record = new_record(max_retries=2)
    for step in steps:
        try:
            record = ALL_CHANGES[step](record)
        except IllegalTransitionError:
            continue
    if record.is_final:
        return
    cancelled = models.cancel(record, now=20.0)
    with pytest.raises(IllegalTransitionError):
        models.complete(cancelled, result="late", now=21.0)
    assert cancelled.status is TaskStatus.CANCELLED
