"""Persistent jobs: the checkpoints a tenant's tasks saved, which of them may resume, and the
resume itself. What the hub's ``/tasks/persistent-jobs/...`` routes wrap.

Listings read the edge's TaskView only: its per-tenant index of tasks whose record carries a
checkpoint mark (``TaskView.with_checkpoint``), so a request walks the tenant's checkpointed
tasks, never the bucket. A resume reads the task's record and its checkpoint, then runs the
same task again as its next attempt (store/requeue.py), which receives the checkpoint as
``ctx.checkpoint_state``.

Contract (every function is tenant-scoped through the caller's ``Principal``):
- another tenant's task is 404 ``task_not_found``, exactly like a task that does not exist;
  another user's is 403 unless the caller is a tenant admin (``check_access``);
- ``resume``: 409 ``no_checkpoint`` (none saved, or it expired with the retention), 409
  ``task_not_final`` (still queued or running: it resumes by itself), 409
  ``task_not_resumable`` (it completed); otherwise the record, enqueued again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prsm_tasks.errors import NoCheckpointError, TaskNotResumableError, ValidationError
from prsm_tasks.models import TaskRecord, TaskStatus
from prsm_tasks.services.access import Principal, check_access, check_task_id
from prsm_tasks.services.core import Services
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import Entry
from prsm_tasks.store.checkpoints import CheckpointStore
from prsm_tasks.store.requeue import requeue

# stopped with a checkpoint: a person may resume it
RESUMABLE_STATUSES = frozenset({"failed", "timeout", "cancelled"})
# back in its queue with a checkpoint (a shutdown handed it back, a retry waits): it resumes
# by itself when a node takes it
RESUMING_STATUSES = frozenset({"enqueued"})
MAX_LIMIT = 200


@dataclass(frozen=True, kw_only=True)
class CheckpointView:
    """One task's last checkpoint, as listings show it."""

    task_id: str
    number: int | None  # the task's integer id
    queue: str
    task_type: str | None
    status: str
    seq: int  # checkpoints the task saved so far
    attempt: int  # the attempt that saved it
    at: float
    size_bytes: int
    summary: str | None
    resumable: bool  # stopped: ``resume`` runs it again from here
    resumes_by_itself: bool  # queued again with it (a shutdown, a retry): no resume needed

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": iso(self.at)}


@dataclass(frozen=True, kw_only=True)
class Page:
    items: list[CheckpointView]
    total: int  # matching items, all pages


def list_checkpoints(
    services: Services, principal: Principal, *, limit: int = 50, offset: int = 0
) -> Page:
    """The caller's tasks that saved a checkpoint (any status), newest task first."""
    return _page(services, principal, lambda entry: True, limit=limit, offset=offset)


def list_resumable(
    services: Services,
    principal: Principal,
    *,
    limit: int = 50,
    offset: int = 0,
    include_resuming: bool = True,
) -> Page:
    """Jobs stopped with a checkpoint (failed, timed out, cancelled) and, unless
    ``include_resuming`` is False, those a shutdown or a retry put back in their queue with
    one (``resumes_by_itself``), newest task first."""
    statuses = RESUMABLE_STATUSES | (RESUMING_STATUSES if include_resuming else frozenset())
    return _page(
        services, principal, lambda entry: entry.status in statuses, limit=limit, offset=offset
    )


async def resume(
    services: Services, principal: Principal, task_id: str, *, reason: str | None = None
) -> TaskRecord:
    """Run stopped job ``task_id`` again from its last checkpoint (its next attempt)."""
    check_task_id(task_id)
    stored = await checkpoint_store(services).read(task_id)

    def resumable(record: TaskRecord) -> None:
        check_access({"tenant": record.tenant, "user": record.user}, principal, task_id)
        if record.checkpoint is None or stored is None or _expired(services, record.checkpoint.at):
            raise NoCheckpointError(f"task {task_id} has no checkpoint to resume from")
        if record.status is TaskStatus.COMPLETED:
            raise TaskNotResumableError(
                f"task {task_id} completed: only a failed, timed-out or cancelled job resumes",
                task_id=task_id,
                status=str(record.status),
            )

    seq = stored[0].seq if stored is not None else 0
    return await requeue(
        services.writer,
        services.stores.tasks,
        task_id,
        reason=reason or f"resumed from checkpoint {seq}",
        by=principal.user,
        check=resumable,
    )


def checkpoint_store(services: Services) -> CheckpointStore:
    if services.checkpoints is None:
        services.checkpoints = CheckpointStore(services.stores.js)
    return services.checkpoints


def _page(
    services: Services,
    principal: Principal,
    wanted: Callable[[Entry], bool],
    *,
    limit: int,
    offset: int,
) -> Page:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be within 1..{MAX_LIMIT}", field="limit")
    if offset < 0:
        raise ValidationError("offset must not be negative", field="offset")
    scope = services.view.with_checkpoint(principal.tenant)
    matching = [
        entry
        for entry in scope.newest_first()
        if (principal.is_admin or entry.user == principal.user)
        and entry.checkpoint is not None
        and not _expired(services, entry.checkpoint["at"])
        and wanted(entry)
    ]
    items = [_view(entry) for entry in matching[offset : offset + limit]]
    return Page(items=items, total=len(matching))


def _expired(services: Services, saved_at: float) -> bool:
    """Gone with the retention: the bucket keeps a checkpoint that long after its write."""
    retention_s = services.stores.topology.finished_task_ttl_s
    return retention_s > 0 and saved_at + retention_s <= time.time()


def _view(entry: Entry) -> CheckpointView:
    mark = entry.checkpoint
    assert mark is not None
    return CheckpointView(
        task_id=entry.task_id,
        number=entry.number,
        queue=entry.queue,
        task_type=entry.task_type,
        status=entry.status,
        seq=int(mark["seq"]),
        attempt=int(mark["attempt"]),
        at=float(mark["at"]),
        size_bytes=int(mark["size_bytes"]),
        summary=mark.get("summary"),
        resumable=entry.status in RESUMABLE_STATUSES,
        resumes_by_itself=entry.status in RESUMING_STATUSES,
    )
