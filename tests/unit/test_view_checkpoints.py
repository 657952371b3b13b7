"""The TaskView's index of checkpointed tasks, and a requeued record applied (services/view.py)."""

from __future__ import annotations

from typing import Any

from prsm_tasks.services.view import Entry, TaskView

MARK = {"seq": 3, "attempt": 1, "at": 50.0, "size_bytes": 9, "summary": "3/10"}


def entry(status: str, rev: int, **changes: Any) -> Entry:
    fields: dict[str, Any] = {
        "task_id": "task_a",
        "tenant": "acme",
        "user": "alice",
        "queue": "q",
        "status": status,
        "priority": 5,
        "created_at": 10.0,
        "enqueued_at": 10.0,
        "started_at": 20.0,
        "completed_at": 60.0 if status in ("failed", "completed") else None,
        "first_started_at": 20.0,
        "retry_count": 0,
        "rev": rev,
        "number": 1,
    }
    return Entry(**{**fields, **changes})


def test_a_checkpointed_task_is_indexed_by_tenant_and_follows_its_status() -> None:
    view = TaskView()
    view.apply(entry("processing", 2))
    assert view.with_checkpoint("acme").tasks == {}
    view.apply(entry("failed", 3, checkpoint=MARK))
    scope = view.with_checkpoint("acme")
    assert list(scope.tasks) == ["task_a"] and scope.counts["failed"] == 1
    assert view.with_checkpoint("other").tasks == {}
    # a writer unaware of the mark does not drop it
    view.apply(entry("failed", 4))
    assert view.entries["task_a"].checkpoint == MARK
    view.on_entry("task_a", None, 5)  # purged
    assert view.with_checkpoint("acme").tasks == {} and scope.counts["failed"] == 0


def test_a_requeued_record_is_applied_and_a_late_write_is_not() -> None:
    view = TaskView()
    view.apply(entry("failed", 3, checkpoint=MARK))
    view.apply(entry("processing", 2, checkpoint=MARK))  # an older write, late
    assert view.entries["task_a"].status == "failed"
    view.apply(entry("enqueued", 4, checkpoint=MARK, enqueued_at=70.0, completed_at=None))
    assert view.entries["task_a"].status == "enqueued"
    counts = view.with_checkpoint("acme").counts
    assert (counts["failed"], counts["enqueued"]) == (0, 1)
    assert view.tenants["acme"].counts["enqueued"] == 1
