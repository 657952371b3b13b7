"""The pure rules of task dependencies (store/graph.py) and the record's encoding of them."""

from __future__ import annotations

import pytest

from prsm_tasks import wire
from prsm_tasks.errors import ValidationError
from prsm_tasks.models import (
    Attempt,
    TaskDependency,
    TaskRecord,
    TaskStatus,
    record_fields,
)
from prsm_tasks.store.graph import Decision, check_depends_on, child_decision, parent_decision
from prsm_tasks.store.tasks import decode_record, encode_record

PARENT = "task_" + "a" * 26
OTHER = "task_" + "b" * 26


def record(status: TaskStatus = TaskStatus.ENQUEUED, **fields: object) -> TaskRecord:
    return TaskRecord(
        task_id=fields.pop("task_id", PARENT),  # type: ignore[arg-type]
        queue_name="q",
        created_at=1.0,
        enqueued_at=1.0,
        status=status,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("kind", "status", "started", "expected"),
    [
        ("success", TaskStatus.COMPLETED, True, Decision.MET),
        ("success", TaskStatus.FAILED, True, Decision.FAILED),
        ("success", TaskStatus.TIMEOUT, True, Decision.FAILED),
        ("success", TaskStatus.CANCELLED, False, Decision.CANCELLED),
        ("success", TaskStatus.PROCESSING, True, Decision.PENDING),
        ("completion", TaskStatus.FAILED, True, Decision.MET),
        ("completion", TaskStatus.CANCELLED, False, Decision.MET),
        ("completion", TaskStatus.PROCESSING, True, Decision.PENDING),
        ("any", TaskStatus.PROCESSING, True, Decision.MET),
        ("any", TaskStatus.ENQUEUED, True, Decision.MET),  # a retry: it has started once
        ("any", TaskStatus.ENQUEUED, False, Decision.PENDING),
        ("any", TaskStatus.CANCELLED, False, Decision.MET),
    ],
)
def test_each_type_against_each_parent_state(
    kind: str, status: TaskStatus, started: bool, expected: Decision
) -> None:
    attempts = [Attempt(number=1, node="n", started_at=1.0)] if started else []
    parent = record(status, attempts=attempts)
    assert parent_decision(TaskDependency(task_id=PARENT, type=kind), parent) is expected  # type: ignore[arg-type]


def test_a_gone_parent_breaks_success_and_meets_the_others() -> None:
    assert parent_decision(TaskDependency(task_id=PARENT), None) is Decision.FAILED
    assert parent_decision(TaskDependency(task_id=PARENT, type="any"), None) is Decision.MET


def test_the_first_breaking_parent_decides_the_child() -> None:
    child = record(
        TaskStatus.WAITING,
        task_id="task_" + "c" * 26,
        depends_on=[TaskDependency(task_id=PARENT), TaskDependency(task_id=OTHER)],
    )
    running, cancelled = record(TaskStatus.PROCESSING), record(TaskStatus.CANCELLED)
    assert child_decision(child, [running, cancelled]) == (Decision.CANCELLED, OTHER)
    assert child_decision(child, [running, record(TaskStatus.COMPLETED)]) == (
        Decision.PENDING,
        None,
    )
    done = record(TaskStatus.COMPLETED)
    assert child_decision(child, [done, done]) == (Decision.MET, None)


def test_depends_on_checks_name_the_entry() -> None:
    with pytest.raises(ValidationError, match="itself"):
        check_depends_on([TaskDependency(task_id=PARENT)], PARENT)
    with pytest.raises(ValidationError) as twice:
        check_depends_on([TaskDependency(task_id=PARENT)] * 2, OTHER)
    assert twice.value.field == "depends_on[1].task_id"
    with pytest.raises(ValidationError):
        check_depends_on([], OTHER)


def test_a_record_outside_any_graph_stores_neither_list() -> None:
    plain = record()
    assert "depends_on" not in record_fields(plain) and "dependents" not in record_fields(plain)
    child = record(depends_on=[TaskDependency(task_id=OTHER, type="any")], dependents=[OTHER])
    fields = wire.unpack(encode_record(child))
    assert fields["depends_on"] == [{"task_id": OTHER, "type": "any"}]
    assert decode_record(encode_record(child), 1).depends_on == child.depends_on
    assert decode_record(encode_record(plain), 1).dependents == []
