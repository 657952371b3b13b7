"""W3C traceparent parsing: strict, version 00, never all-zero ids."""

from __future__ import annotations

import pytest

from prsm_tasks import trace
from prsm_tasks.errors import ValidationError
from prsm_tasks.models import TaskRecord, record_fields

GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_round_trips() -> None:
    parsed = trace.parse(GOOD)
    assert parsed is not None and parsed.traceparent == GOOD and parsed.sampled
    assert parsed.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        GOOD.upper(),
        "01" + GOOD[2:],  # another version: its fields may differ
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",
        GOOD + "-extra",
        GOOD[:-1],
        GOOD.replace("-", "_"),
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
    ],
)
def test_anything_else_is_not_a_traceparent(bad: str | None) -> None:
    assert trace.parse(bad) is None
    started = trace.from_header(bad)  # a bad header starts a new trace, never refuses
    assert trace.parse(started.traceparent) == started


def test_a_child_keeps_the_trace_and_takes_a_new_span() -> None:
    parent = trace.TraceContext.new()
    child = parent.child()
    assert child.trace_id == parent.trace_id and child.span_id != parent.span_id
    assert trace.attempt_span(parent.traceparent).trace_id == parent.trace_id
    assert trace.attempt_span(None) is None


def test_a_client_argument_is_checked() -> None:
    assert trace.checked(GOOD) == GOOD
    assert trace.checked(None) is None
    with pytest.raises(ValidationError) as caught:
        trace.checked("00-nope")
    assert caught.value.field == "trace"


def test_a_record_without_a_trace_does_not_store_the_field() -> None:
    record = TaskRecord(task_id="task_x", queue_name="q", created_at=1.0, enqueued_at=1.0)
    assert "trace" not in record_fields(record)
    assert record_fields(record.model_copy(update={"trace": GOOD}))["trace"] == GOOD
