"""Times of the hub's periodic tasks: a cron expression checked with its next runs, the
runs planned in a window (the calendar), and the periodic tasks due now or overdue.

The rules are the schedules' own (schedules/rules.py: croniter matched on the zone's wall
clock, then placed on UTC by the DST rule), so what the calendar shows is what fires.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prsm_tasks.errors import ValidationError
from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.schedules.rules import MAX_AHEAD, TimeRule, parse_rule
from prsm_tasks.services.timestamps import iso

NEXT_RUNS = 5
MAX_WINDOW = timedelta(days=31)
DEFAULT_WINDOW = timedelta(days=7)
MAX_CALENDAR_RUNS = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def validate_cron(expression: str, timezone: str, now: datetime) -> dict[str, Any]:
    """Valid or not, with the reason and the field at fault; when valid, the next runs
    (UTC, and as wall-clock times of the zone)."""
    try:
        rule = parse_rule("cron", expression, timezone, now=now)
    except ValidationError as exc:
        field = "timezone" if exc.field == "timezone" else "cron_expression"
        return {
            "valid": False,
            "cron_expression": expression,
            "timezone": timezone,
            "error": exc.message.replace("schedule_expression", "cron_expression"),
            "field": field,
            "next_runs": [],
        }
    runs = list(itertools.islice(times_after(rule, now), NEXT_RUNS))
    return {
        "valid": True,
        "cron_expression": rule.expression,
        "timezone": timezone,
        "error": None,
        "field": None,
        "next_runs": [iso(run.timestamp()) for run in runs],
        "next_runs_local": [run.astimezone(rule.zone).isoformat() for run in runs],
    }


def times_after(rule: TimeRule, after: datetime) -> Iterator[datetime]:
    """The rule's due times strictly after ``after``, in order."""
    instant = rule.next_after(after)
    while instant is not None:
        yield instant
        instant = rule.next_after(instant)


def window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The calendar's window: from now for a week by default, at most 31 days."""
    start = start or now
    if not EPOCH <= start <= now + MAX_AHEAD:
        raise ValidationError(
            f"from: between 1970 and {MAX_AHEAD.days} days from now", field="from"
        )
    end = end or start + DEFAULT_WINDOW
    if end <= start:
        raise ValidationError("to: must be after from", field="to")
    if end - start > MAX_WINDOW:
        raise ValidationError(f"to: at most {MAX_WINDOW.days} days after from", field="to")
    return start, end


def planned(
    records: list[ScheduleRecord], start: datetime, end: datetime
) -> tuple[list[tuple[datetime, ScheduleRecord]], bool]:
    """Every run of the active ``records`` in [start, end], in time order, at most
    MAX_CALENDAR_RUNS (and whether more were cut). Lazy per schedule, merged: a rule that
    runs every second costs what the page shows, not a month of seconds."""

    def runs_of(record: ScheduleRecord) -> Iterator[tuple[datetime, str, ScheduleRecord]]:
        for instant in times_after(record.rule(), start - timedelta(microseconds=1)):
            if instant > end:
                return
            yield instant, record.schedule_id, record

    active = [record for record in records if record.enabled and record.status != "completed"]
    merged = heapq.merge(*(runs_of(record) for record in active))
    runs = [(at, record) for at, _, record in itertools.islice(merged, MAX_CALENDAR_RUNS + 1)]
    return runs[:MAX_CALENDAR_RUNS], len(runs) > MAX_CALENDAR_RUNS


def ready(records: list[ScheduleRecord], now: datetime) -> list[tuple[ScheduleRecord, float]]:
    """Active periodic tasks whose next run is due now or overdue, most overdue first."""
    due = [
        (record, now.timestamp() - record.next_due_at)
        for record in records
        if record.enabled
        and record.next_due_at is not None
        and record.next_due_at <= now.timestamp()
    ]
    return sorted(due, key=lambda item: item[1], reverse=True)


def utc_now() -> datetime:
    return datetime.now(UTC)
