"""Listing a caller's schedules from the index: filters, newest first, one page."""

from __future__ import annotations

from typing import get_args

from prsm_tasks.errors import ValidationError
from prsm_tasks.schedules.record import PriorityName, ScheduleRecord, ScheduleStatus
from prsm_tasks.services.access import Principal
from prsm_tasks.services.schedules.core import ScheduleService

STATUSES = frozenset(get_args(ScheduleStatus))
PRIORITIES = frozenset(get_args(PriorityName))
MAX_TAG_FILTERS = 10


def tag_filters(tags: list[str]) -> list[tuple[str, str]]:
    """``key:value`` filters (split at the first colon); 400 naming ``tag`` otherwise."""
    if len(tags) > MAX_TAG_FILTERS:
        raise ValidationError(f"tag: at most {MAX_TAG_FILTERS} filters", field="tag")
    pairs = []
    for tag in tags:
        key, colon, value = tag.partition(":")
        if not colon or not key or len(tag) > 321:
            raise ValidationError(f"tag: filters are key:value, got {tag[:80]!r}", field="tag")
        pairs.append((key, value))
    return pairs


def list_schedules(
    schedules: ScheduleService,
    principal: Principal,
    *,
    status: str | None,
    priority: str | None,
    tags: list[str],
    limit: int,
    offset: int,
) -> tuple[list[ScheduleRecord], int]:
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status: one of {', '.join(sorted(STATUSES))}", field="status")
    if priority is not None and priority not in PRIORITIES:
        raise ValidationError(f"priority: one of {', '.join(sorted(PRIORITIES))}", field="priority")
    wanted = tag_filters(tags)
    matching = [
        record
        for record in schedules.visible(principal)
        if (status is None or record.status == status)
        and (priority is None or record.priority == priority)
        and all(record.tags.get(key) == value for key, value in wanted)
    ]
    matching.sort(key=lambda record: (record.created_at, record.schedule_id), reverse=True)
    return matching[offset : offset + limit], len(matching)
