"""What the dashboard reads: a caller's tasks by cursor, and per-queue figures of the last
hour, from the edge's TaskView (never a bucket scan, never another caller's tasks).

A page of tasks starts where the cursor says by bisection of the caller's scope (kept
sorted newest first by the view), then walks forward through the filters: a page costs its
rows plus the rows the filters skip, at most ``MAX_SCANNED`` before it answers with what it
found and a cursor to go on from.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

from prsm_tasks.models import TaskRecord
from prsm_tasks.services.access import Principal, check_access, check_task_id
from prsm_tasks.services.core import Services
from prsm_tasks.services.listing import STATUS_FILTERS
from prsm_tasks.services.view import FINAL, PENDING, Entry, Scope
from prsm_tasks.store.requeue import requeue

MAX_SCANNED = 20_000  # rows a filtered page walks past before it answers
MAX_TEXT_CHARS = 200
HOUR_S = 3600
CHART_BUCKETS = 12  # five-minute bars over the last hour
BANDS = ("critical", "high", "normal", "low")

Cursor = tuple[float, str]  # (created_at, task_id) of the last row shown


@dataclass(frozen=True, kw_only=True)
class TaskFilter:
    queue: str | None = None
    status: str | None = None  # a public status
    task_type: str | None = None
    text: str | None = None  # part of the task id, type or queue

    def passes(self, entry: Entry) -> bool:
        if self.queue is not None and entry.queue != self.queue:
            return False
        if self.status is not None and entry.status not in STATUS_FILTERS[self.status]:
            return False
        if self.task_type is not None and entry.task_type != self.task_type:
            return False
        if self.text:
            needle = self.text.lower()
            haystack = f"{entry.task_id} {entry.task_type or ''} {entry.queue}".lower()
            return needle in haystack
        return True


@dataclass(frozen=True, kw_only=True)
class TaskPage:
    entries: list[Entry]
    next_cursor: Cursor | None  # None: nothing older passes the filters
    scanned: int


def scope_of(services: Services, principal: Principal) -> Scope:
    return services.view.visible(principal.tenant, principal.user, admin=principal.is_admin)


def task_page(
    services: Services,
    principal: Principal,
    selected: TaskFilter,
    *,
    after: Cursor | None,
    limit: int,
) -> TaskPage:
    ordered = scope_of(services, principal).newest_first()
    start = 0
    if after is not None:
        # newest first: the rows older than the cursor are a suffix of the list
        start = bisect.bisect_left(ordered, True, key=lambda e: (e.created_at, e.task_id) < after)
    found: list[Entry] = []
    index = start
    while index < len(ordered) and len(found) < limit and index - start < MAX_SCANNED:
        if selected.passes(ordered[index]):
            found.append(ordered[index])
        index += 1
    more = index < len(ordered)
    last = found[-1] if len(found) == limit else ordered[index - 1] if more else None
    next_cursor = (last.created_at, last.task_id) if last is not None and more else None
    return TaskPage(entries=found, next_cursor=next_cursor, scanned=index - start)


@dataclass(kw_only=True)
class QueueFigures:
    queue: str
    waiting_by_band: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    running: int = 0
    oldest_wait_s: float | None = None
    finished: list[int] = field(default_factory=lambda: [0] * CHART_BUCKETS)
    failed: list[int] = field(default_factory=lambda: [0] * CHART_BUCKETS)

    @property
    def waiting(self) -> int:
        return sum(self.waiting_by_band)

    @property
    def failure_rate(self) -> list[float]:
        return [f / n if n else 0.0 for f, n in zip(self.failed, self.finished, strict=True)]

    @property
    def finished_last_hour(self) -> int:
        return sum(self.finished)

    @property
    def failed_last_hour(self) -> int:
        return sum(self.failed)


def queue_figures(
    services: Services, principal: Principal, *, now: float | None = None
) -> list[QueueFigures]:
    """Per queue of the caller's tasks: waiting by band, running, the oldest wait, and
    finished and failed tasks in five-minute buckets of the last hour.

    One pass over the caller's scope (the overview's cost grows with what the caller may
    see; the tasks page does not, it pages by cursor)."""
    now = time.time() if now is None else now
    since = now - HOUR_S
    bucket_s = HOUR_S / CHART_BUCKETS
    figures: dict[str, QueueFigures] = {}
    for entry in scope_of(services, principal).tasks.values():
        queue = figures.get(entry.queue)
        if queue is None:
            queue = figures[entry.queue] = QueueFigures(queue=entry.queue)
        if entry.status in PENDING:
            queue.waiting_by_band[entry.band_index] += 1
            waited = now - entry.enqueued_at
            if queue.oldest_wait_s is None or waited > queue.oldest_wait_s:
                queue.oldest_wait_s = waited
        elif entry.status == "processing":
            queue.running += 1
        elif entry.status in FINAL and (entry.completed_at or 0.0) >= since:
            assert entry.completed_at is not None
            slot = min(CHART_BUCKETS - 1, int((entry.completed_at - since) // bucket_s))
            queue.finished[slot] += 1
            if entry.status in ("failed", "timeout"):
                queue.failed[slot] += 1
    return sorted(figures.values(), key=lambda q: q.queue)


async def retry_own(services: Services, principal: Principal, task_id: str) -> None:
    """Run a final task of the caller again as its next attempt (the rules of cancel: its
    owner, or an admin of its tenant); 409 while it has not stopped."""
    check_task_id(task_id)

    def may_retry(record: TaskRecord) -> None:
        check_access({"tenant": record.tenant, "user": record.user}, principal, task_id)

    again = await requeue(
        services.writer,
        services.stores.tasks,
        task_id,
        reason=f"run again by {principal.user}",
        by=principal.user,
        check=may_retry,
    )
    services.view.apply_record(again)
