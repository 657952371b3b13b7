"""Task numbers at the edge: the view's number -> task id index and how a path names a task."""

from __future__ import annotations

import re

import pytest

from prsm_tasks import models, wire
from prsm_tasks.models import TaskRecord
from prsm_tasks.services.task_refs import TASK_REF_PATTERN, parse_number
from prsm_tasks.services.view import TaskView

TASK = "task_01abcdefghjkmnpqrstvwxyz0"


def stored(**fields: object) -> bytes:
    record = TaskRecord.model_validate(
        {"task_id": TASK, "queue_name": "q", "created_at": 1.0, "enqueued_at": 1.0, **fields}
    )
    return wire.pack(models.record_fields(record))


def test_the_view_numbers_what_it_sees_and_forgets_what_is_deleted() -> None:
    view = TaskView()
    view.on_entry(TASK, stored(), 7)  # never updated: numbered by its revision
    assert view.task_of_number(7) == TASK and view.number_of(TASK) == 7
    view.on_entry(TASK, stored(status="processing", created_rev=7), 9)
    assert view.task_of_number(7) == TASK and view.task_of_number(9) is None
    view.on_entry(TASK, None, 10)
    assert view.task_of_number(7) is None and view.numbers == {}


def test_a_record_this_edge_wrote_is_numbered_at_once_and_keeps_its_number() -> None:
    view = TaskView()
    created = TaskRecord.model_validate(
        {"task_id": TASK, "queue_name": "q", "created_at": 1.0, "enqueued_at": 1.0}
    )
    view.apply_record(created.model_copy(update={"created_rev": 5}))  # as submit answers it
    assert view.task_of_number(5) == TASK
    view.apply_record(created.model_copy(update={"status": models.TaskStatus.PROCESSING}))
    assert view.number_of(TASK) == 5  # a copy that does not know it keeps the one known


@pytest.mark.parametrize(
    ("ref", "number"),
    [("1", 1), ("4711", 4711), ("0", None), ("07", None), ("+7", None), ("-7", None),
     ("7.0", None), ("1e3", None), ("9" * 21, None), ("\u0661", None), (TASK, None)],
)  # fmt: skip
def test_only_plain_numbers_are_numbers(ref: str, number: int | None) -> None:
    assert parse_number(ref) == number


def test_the_documented_pattern_takes_ids_and_numbers() -> None:
    pattern = re.compile(TASK_REF_PATTERN)
    assert pattern.match("task_" + "0" * 26) and pattern.match("4711")
    assert not any(pattern.match(ref) for ref in ("07", "+7", "task_x", "9" * 21))
