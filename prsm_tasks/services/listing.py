"""A caller's tasks from the edge's TaskView: newest first, filtered, a page of them and the
counts over everything the filters let through."""

from __future__ import annotations

from dataclasses import dataclass

from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import Services
from prsm_tasks.services.view import PENDING, Entry

PUBLIC_STATUSES = ("enqueued", "processing", "completed", "failed", "cancelled", "timeout")
STATUS_FILTERS = {status: frozenset({status}) for status in PUBLIC_STATUSES}
STATUS_FILTERS["enqueued"] = PENDING


@dataclass(frozen=True, kw_only=True)
class Summary:
    total: int
    completed: int
    failed: int  # failed or timed out
    pending: int  # not started, or processing

    @property
    def success_rate(self) -> float | None:
        ended = self.completed + self.failed
        return round(self.completed / ended, 4) if ended else None


@dataclass(frozen=True, kw_only=True)
class Page:
    entries: list[Entry]
    matching: int  # how many passed every filter
    summary: Summary  # over the queue filter only


def list_tasks(
    services: Services,
    principal: Principal,
    *,
    queue: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> Page:
    """The caller's tasks (a tenant admin: the tenant's); ``status``: a public status."""
    scope = services.view.visible(principal.tenant, principal.user, admin=principal.is_admin)
    statuses = STATUS_FILTERS[status] if status else None
    in_queue = [e for e in scope.newest_first() if queue is None or e.queue == queue]
    matching = [e for e in in_queue if statuses is None or e.status in statuses]
    counts: dict[str, int] = {}
    for entry in in_queue:
        counts[entry.status] = counts.get(entry.status, 0) + 1
    summary = Summary(
        total=len(in_queue),
        completed=counts.get("completed", 0),
        failed=counts.get("failed", 0) + counts.get("timeout", 0),
        pending=sum(counts.get(s, 0) for s in (*PENDING, "processing")),
    )
    return Page(entries=matching[offset : offset + limit], matching=len(matching), summary=summary)
