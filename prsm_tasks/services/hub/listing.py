"""The hub's task list: a brand's tasks from the edge's TaskView, filtered and paged, then
the page's records read (at most ``MAX_PAGE_SIZE`` point reads, never a bucket scan).

Filters apply to the view's entries: status (a hub status, or ``active``), task type,
priority name, ``has_metrics``, execution time in ms (``__gte``/``__lte``: the last
attempt's run time), ``is_resumable``, ``is_periodic`` (a schedule's run), creation time
(``__gte``/``__lte``), and ``search``: a case-insensitive substring of the task type, the
description or one of the first 32 keys of the task's data.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from prsm_tasks.errors import TaskNotFoundError
from prsm_tasks.models import band_for_priority
from prsm_tasks.services.core import Services
from prsm_tasks.services.hub.brands import BrandScope
from prsm_tasks.services.hub.tasks import PRIORITIES, STATUS_FILTERS, is_resumable, task_item
from prsm_tasks.services.task_list import read_numbered
from prsm_tasks.services.task_refs import number_of
from prsm_tasks.services.view import BAND_INDEX, Entry

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 100_000
MAX_SEARCH_CHARS = 200


@dataclass(frozen=True, kw_only=True)
class TaskFilters:
    status: str | None = None  # a key of STATUS_FILTERS
    task_type: str | None = None
    priority: str | None = None  # a key of PRIORITIES
    has_metrics: bool | None = None
    execution_time_gte_ms: float | None = None
    execution_time_lte_ms: float | None = None
    is_resumable: bool | None = None
    is_periodic: bool | None = None
    created_gte: float | None = None  # epoch seconds
    created_lte: float | None = None
    search: str | None = None  # lower case

    def matches(self, entry: Entry) -> bool:
        return self._engine_matches(entry) and self._hub_matches(entry)

    def _engine_matches(self, entry: Entry) -> bool:
        if self.status is not None and entry.status not in STATUS_FILTERS[self.status]:
            return False
        if self.task_type is not None and entry.task_type != self.task_type:
            return False
        if self.priority is not None and entry.band_index != band_index_of(self.priority):
            return False
        if self.created_gte is not None and entry.created_at < self.created_gte:
            return False
        if self.created_lte is not None and entry.created_at > self.created_lte:
            return False
        return self._execution_matches(entry)

    def _execution_matches(self, entry: Entry) -> bool:
        if self.execution_time_gte_ms is None and self.execution_time_lte_ms is None:
            return True
        seconds = entry.execution_time_seconds
        if seconds is None:
            return False  # a task that has not run has no time to compare
        ms = seconds * 1000
        low, high = self.execution_time_gte_ms, self.execution_time_lte_ms
        return (low is None or ms >= low) and (high is None or ms <= high)

    def _hub_matches(self, entry: Entry) -> bool:
        facts = entry.facts
        if self.has_metrics is not None and facts.has_metrics != self.has_metrics:
            return False
        if self.is_periodic is not None and facts.periodic != self.is_periodic:
            return False
        if self.is_resumable is not None:
            resumable = is_resumable(entry.status, entry.checkpoint is not None)
            if resumable != self.is_resumable:
                return False
        return self.search is None or searched(entry, self.search)


def band_index_of(priority: str) -> int:
    return BAND_INDEX[band_for_priority(PRIORITIES[priority])]


def searched(entry: Entry, needle: str) -> bool:
    facts = entry.facts
    haystacks = (entry.task_type or "", facts.description or "", *facts.data_keys)
    return any(needle in haystack.lower() for haystack in haystacks)


@dataclass(frozen=True, kw_only=True)
class TaskPage:
    count: int  # every task the filters let through
    items: list[dict[str, Any]]


def chosen(
    services: Services, scope: BrandScope, filters: TaskFilters, *, page: int, page_size: int
) -> tuple[list[Entry], int]:
    """The page's entries (newest first) and how many match in all."""
    brand_tasks = services.view.visible(
        scope.principal.tenant, scope.principal.user, admin=True
    ).newest_first()
    matching = [entry for entry in brand_tasks if filters.matches(entry)]
    start = (page - 1) * page_size
    return matching[start : start + page_size], len(matching)


async def list_page(
    services: Services, scope: BrandScope, filters: TaskFilters, *, page: int, page_size: int
) -> TaskPage:
    entries, count = chosen(services, scope, filters, page=page, page_size=page_size)
    reads = await asyncio.gather(
        *(read_numbered(services, entry.task_id) for entry in entries), return_exceptions=True
    )
    items: list[dict[str, Any]] = []
    for read in reads:
        if isinstance(read, TaskNotFoundError):
            continue  # deleted since the view saw it
        if isinstance(read, BaseException):
            raise read
        raw, rev = read
        items.append(task_item(raw, number=number_of(services, raw, rev), brand=scope.brand))
    return TaskPage(count=count, items=items)
