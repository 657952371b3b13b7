"""Quotas: what one tenant may make the deployment keep, checked before anything is written.

Counts come from what the edge already mirrors (the TaskView's per-tenant counts, the types
mirror), never from a scan of a bucket. A tenant at a quota is refused with a 4xx naming it;
other tenants are not touched. The work stream's own size is the deployment's (discard new:
a full stream refuses publishes); an edge reads it at most once a second and refuses an
enqueue that would not fit before writing its record.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prsm_tasks.errors import (
    PriorityMoveLimitError,
    QueueLimitError,
    TaskTypeLimitError,
    UnfinishedTaskLimitError,
    WorkStreamFullError,
)
from prsm_tasks.services.view import FINAL, TaskView
from prsm_tasks.store.reads import work_usage
from prsm_tasks.store.work import PreparedTask

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from prsm_tasks.config import Settings
    from prsm_tasks.services.mirrors import TypeView

WORK_USAGE_MAX_AGE_S = 1.0
WORK_MESSAGE_OVERHEAD = 128  # subject, headers and framing of a work message, about


def work_bytes(prepared: PreparedTask) -> int:
    """About what a task's work message takes in the stream (its record, headers)."""
    return len(prepared.payload) + WORK_MESSAGE_OVERHEAD


@dataclass(frozen=True, kw_only=True)
class Quotas:
    """The per-tenant quotas of an edge (the settings' ``max_*_per_tenant`` and the rest)."""

    max_unfinished_tasks: int = 100_000
    max_task_types: int = 200
    max_task_type_bytes: int = 262_144
    max_queues: int = 50
    max_priority_moves: int = 20
    claim_consumer_idle_s: float = 3600.0
    max_schedules: int = 10_000

    @classmethod
    def from_settings(cls, settings: Settings) -> Quotas:
        return cls(
            max_unfinished_tasks=settings.max_unfinished_tasks_per_tenant,
            max_task_types=settings.max_task_types_per_tenant,
            max_task_type_bytes=settings.max_task_type_bytes,
            max_queues=settings.max_queues_per_tenant,
            max_priority_moves=settings.max_priority_moves_per_task,
            claim_consumer_idle_s=settings.claim_consumer_idle_seconds,
            max_schedules=settings.max_schedules_per_tenant,
        )


def unfinished_of(view: TaskView, tenant: str | None) -> int:
    """The tenant's tasks that are not final, from the view's per-tenant status counts."""
    scope = view.tenants.get(tenant)
    if scope is None:
        return 0
    return sum(count for status, count in scope.counts.items() if status not in FINAL)


def check_unfinished(quotas: Quotas, view: TaskView, tenant: str | None, adding: int) -> None:
    """429 ``unfinished_task_limit`` when ``adding`` more would pass the tenant's quota."""
    current = unfinished_of(view, tenant)
    if current + adding > quotas.max_unfinished_tasks:
        raise UnfinishedTaskLimitError(
            f"the tenant has {current} unfinished tasks; at most "
            f"{quotas.max_unfinished_tasks} may be queued or running at once "
            f"(this request adds {adding}). Wait for some to finish, or cancel some",
            limit="PRSM_MAX_UNFINISHED_TASKS_PER_TENANT",
            maximum=quotas.max_unfinished_tasks,
            current=current,
        )


def check_priority_move(quotas: Quotas, task_id: str, moves: int) -> None:
    """429 ``priority_move_limit`` for a pending task moved to another band ``moves`` times
    already: each move queues one more work message, so they are counted."""
    if moves >= quotas.max_priority_moves:
        raise PriorityMoveLimitError(
            f"task {task_id} has moved to another priority band {moves} times, the most it "
            "may; cancel it and enqueue it again with the priority it needs",
            task_id=task_id,
            field="priority",
            limit="PRSM_MAX_PRIORITY_MOVES_PER_TASK",
            maximum=quotas.max_priority_moves,
        )


def check_new_type(
    quotas: Quotas, types: TypeView, tenant: str, queue: str, configured: tuple[str, ...]
) -> None:
    """429 when the tenant may not register another type (``task_type_limit``), or not one
    sending tasks to ``queue`` (``queue_limit``)."""
    own = [
        record
        for record, _ in types.visible(tenant, include_inactive=True)
        if record.tenant == tenant
    ]
    if len(own) >= quotas.max_task_types:
        raise TaskTypeLimitError(
            f"the tenant has {len(own)} task types, the most it may register",
            limit="PRSM_MAX_TASK_TYPES_PER_TENANT",
            maximum=quotas.max_task_types,
        )
    check_queue_count(quotas, types, tenant, queue, configured, replacing=None)


def check_queue_count(
    quotas: Quotas,
    types: TypeView,
    tenant: str,
    queue: str,
    configured: tuple[str, ...],
    *,
    replacing: int | None,
) -> None:
    """429 ``queue_limit`` when a type of the tenant sending tasks to ``queue`` (in place of
    type ``replacing``'s queue) makes more queues than the quota; configured queues are free,
    and an inactive type's queue no longer counts (no claim may name it)."""
    if queue in configured:
        return
    queues = {
        record.queue
        for record, _ in types.visible(tenant)
        if record.tenant == tenant and record.id != replacing and record.queue not in configured
    }
    if queue in queues or len(queues) < quotas.max_queues:
        return
    raise QueueLimitError(
        f"the tenant's task types already send tasks to {len(queues)} queues, the most it "
        "may use; give this type the metadata.queue_name of one of them",
        field="metadata.queue_name",
        limit="PRSM_MAX_QUEUES_PER_TENANT",
        maximum=quotas.max_queues,
    )


class WorkRoom:
    """How full PRSM_WORK is, read at most once a second: an enqueue that would not fit is
    refused before its record is written (the stream's own refusal is the backstop)."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        max_age_s: float = WORK_USAGE_MAX_AGE_S,
        partitions: int = 1,
    ) -> None:
        self._js = js
        self._partitions = partitions  # the room of all the work streams together
        self.max_age_s = max_age_s  # how old a reading of the stream's use may be
        self._read_at = -max_age_s
        # (limit, used) of messages and of bytes; a limit of -1: none
        self._messages = (-1, 0)
        self._bytes = (-1, 0)
        self._reading = asyncio.Lock()

    async def check(self, adding: int, adding_bytes: int) -> None:
        """507 ``work_stream_full`` unless ``adding`` messages of ``adding_bytes`` fit."""
        if time.monotonic() - self._read_at > self.max_age_s:
            # one read for all: the requests that arrive while it is under way wait for it
            # instead of each sending its own (a burst of enqueues read the stream's info
            # once per request in flight)
            async with self._reading:
                now = time.monotonic()
                if now - self._read_at > self.max_age_s:
                    self._messages, self._bytes = await work_usage(self._js, self._partitions)
                    self._read_at = now
        for (maximum, used), wanted, setting in (
            (self._messages, adding, "PRSM_WORK_MAX_MESSAGES"),
            (self._bytes, adding_bytes, "PRSM_WORK_MAX_BYTES"),
        ):
            if maximum > 0 and used + wanted > maximum:
                raise WorkStreamFullError(
                    "the work stream is full: no task can be queued until nodes take some; "
                    "try again later",
                    limit=setting,
                    maximum=maximum,
                )
        # counted until the next read, so a burst within the second is refused here too
        self._messages = (self._messages[0], self._messages[1] + adding)
        self._bytes = (self._bytes[0], self._bytes[1] + adding_bytes)
