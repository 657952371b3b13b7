"""The edge's index of PRSM_SCHEDULES: revisions only move forward, a delete is final."""

from __future__ import annotations

from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.services.schedules.index import ScheduleIndex
from prsm_tasks.store.schedules import encode

SCHEDULE_ID = "550e8400-e29b-41d4-a716-446655440000"


def record(**fields: object) -> ScheduleRecord:
    base: dict[str, object] = {
        "schedule_id": SCHEDULE_ID,
        "tenant": "acme",
        "user": "alice",
        "task_name": "report",
        "kind": "cron",
        "expression": "0 0 * * *",
        "created_at": 1.0,
        "updated_at": 1.0,
    }
    base.update(fields)
    return ScheduleRecord.model_validate(base)


def test_an_older_revision_does_not_replace_a_newer_one() -> None:
    index = ScheduleIndex()
    index.apply(record(priority="high"), 5)  # written here, applied at once
    index.on_entry(SCHEDULE_ID, encode(record(priority="low")), 4)  # the watch, behind
    assert index.get(SCHEDULE_ID) is not None
    assert index.get(SCHEDULE_ID).priority == "high"  # type: ignore[union-attr]
    index.on_entry(SCHEDULE_ID, encode(record(priority="critical")), 6)
    assert index.get(SCHEDULE_ID).priority == "critical"  # type: ignore[union-attr]


def test_a_removed_schedule_is_not_brought_back_by_a_late_write() -> None:
    index = ScheduleIndex()
    index.apply(record(), 3)
    index.remove(SCHEDULE_ID)  # deleted here
    index.on_entry(SCHEDULE_ID, encode(record()), 3)  # the watch delivers the create late
    assert index.get(SCHEDULE_ID) is None and index.count("acme") == 0
    index.on_entry(SCHEDULE_ID, None, 4)  # then the delete itself
    assert index.get(SCHEDULE_ID) is None
    assert list(index.of_tenant("acme")) == []
