"""External workers on the task list: claim a task, and report on it (running, completed,
failed, cancelled) under the rules peer nodes follow (see store/external.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from prsm_tasks import wire
from prsm_tasks.errors import IllegalTransitionError, TaskAlreadyFinishedError, UnprocessableError
from prsm_tasks.models import TaskRecord, TaskStatus, band_for_priority
from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import Services
from prsm_tasks.services.quotas import Quotas, check_priority_move
from prsm_tasks.services.task_list import API_KEY, API_STATUS, STAGE, engine_priority
from prsm_tasks.store.cancels import forbid_unclaimed_start, signal_changed
from prsm_tasks.store.external import Lease
from prsm_tasks.store.work import NOT_STARTED

DEFAULT_LEASE_S = 60.0
BAND_MOVES = "band_moves"  # metadata.api: how often the priority moved the task to another band
ENDINGS = ("completed", "failed", "cancelled")


def check_claimable(services: Services, queue: str, principal: Principal) -> None:
    """A queue may be claimed from when a type the tenant sees goes there, or the edge is
    configured with it, or a live node serves it (no consumers for made-up names)."""
    if any(record.queue == queue for record, _ in services.types.visible(principal.tenant)):
        return
    services.check_queue(queue)


async def claim(
    services: Services,
    principal: Principal,
    queue: str,
    *,
    type_name: str | None,
    worker_id: str,
    lease_s: float,
) -> TaskRecord | None:
    """One pending task of ``queue`` the caller may work on (of ``type_name`` if given)."""
    services.check_enabled(queue, field=None)
    tenant, user, everyone = principal.tenant, principal.user, principal.may_work

    def eligible(record: TaskRecord) -> bool:
        return (
            record.tenant == tenant
            and (everyone or record.user == user)
            and (type_name is None or record.task_type == type_name)
        )

    claimed = await services.external.claim(
        queue, eligible=eligible, worker_id=worker_id, lease_s=lease_s
    )
    if claimed is not None:
        services.view.apply_record(claimed)
    return claimed


@dataclass(frozen=True, kw_only=True)
class Report:
    """What a worker (or the task's owner) says about a task: only the fields it gave."""

    given: frozenset[str]
    status: str | None = None
    parameters: dict[str, Any] | None = None
    priority: int | None = None
    metadata: dict[str, Any] | None = None
    result: Any = None
    error_message: str | None = None
    worker_id: str | None = None
    lease_seconds: float | None = None


def check_report(task_id: str, record: TaskRecord, report: Report) -> str:
    """The status the task is in (as the task list says it); 409 or 422 for a report that
    does not fit it."""
    given, current = report.given, API_STATUS[record.status]
    for name in given & {"result", "parameters", "metadata"}:
        wire.check_depth(getattr(report, name), field=name)
    target = report.status or current
    if record.is_final:
        raise TaskAlreadyFinishedError(
            f"Task {task_id} already finished with status {current}",
            task_id=task_id,
            status=current,
        )
    if STAGE[target] < STAGE[current]:
        raise IllegalTransitionError(
            f"task {task_id} is {current}; it cannot go back to {target}", task_id=task_id
        )
    if given & {"parameters", "priority"} and target != "pending":
        raise IllegalTransitionError(
            f"parameters and priority change only while a task is pending; it is {current}",
            task_id=task_id,
        )
    if given & {"result", "error_message"} and target not in ENDINGS:
        raise UnprocessableError(
            "result and error_message are stored when the task ends "
            "(status completed, failed or cancelled)",
            field="result" if "result" in given else "error_message",
        )
    return current


async def report_on(
    services: Services, principal: Principal, record: TaskRecord, report: Report
) -> TaskRecord:
    """Apply a report to a task read with ``read_task``: its fields, then its status."""
    current = check_report(record.task_id, record, report)
    if report.given & {"priority", "parameters", "metadata"}:
        record, _ = await edit_fields(services, record, report)
    if report.status is not None and report.status != "pending":
        record = await move(services, principal, record, report, current=current)
    services.view.apply_record(record)
    return record


def edited(current: TaskRecord, report: Report, quotas: Quotas) -> TaskRecord:
    """The record with the report's parameters, priority and metadata (a pending task)."""
    given = report.given
    if given & {"parameters", "priority"} and current.status is not TaskStatus.ENQUEUED:
        raise IllegalTransitionError(
            f"task {current.task_id} is no longer pending", task_id=current.task_id
        )
    api = dict(current.metadata.get(API_KEY) or {})
    api["updated_at"] = time.time()
    update: dict[str, Any] = {}
    if "parameters" in given and report.parameters is not None:
        update["task_data"] = report.parameters
    if "priority" in given and report.priority is not None:
        api["priority"] = report.priority
        update["priority"] = engine_priority(report.priority)
        if band_for_priority(update["priority"]) != current.band:
            moves = int(api.get(BAND_MOVES) or 0)
            check_priority_move(quotas, current.task_id, moves)
            api[BAND_MOVES] = moves + 1
    if "metadata" in given:
        api["metadata"] = report.metadata or {}
    update["metadata"] = {**current.metadata, API_KEY: api}
    return current.model_copy(update=update)


async def edit_fields(
    services: Services, record: TaskRecord, report: Report
) -> tuple[TaskRecord, int]:
    """parameters (checked again), priority and metadata, by CAS; a new band gets a message."""
    if "parameters" in report.given and report.parameters is not None:
        found = services.types.resolve(record.tenant, record.task_type or "")
        if found is not None:
            services.types.validate(found, report.parameters, root="parameters", api=True)
    old_band = record.band
    tasks = services.stores.tasks
    not_started = record.status in NOT_STARTED
    edited(record, report, services.quotas)  # a quota refuses before anything is written
    if not_started:
        # nodes that take its work message from now on must not run that stale copy
        await forbid_unclaimed_start(tasks.requests, record.task_id)
    record, rev = await tasks.transition(
        record.task_id, lambda current: edited(current, report, services.quotas)
    )
    if not_started:
        await signal_changed(services.stores.nc, record.task_id)  # one running it: claim now
    if record.band != old_band and record.status is TaskStatus.ENQUEUED:
        await services.external.republish(record, rev)
    return record, rev


async def move(
    services: Services,
    principal: Principal,
    record: TaskRecord,
    report: Report,
    *,
    current: str,
) -> TaskRecord:
    """The status change a report asks for (running, completed, failed, cancelled)."""
    external, worker_id = services.external, report.worker_id
    if report.status == "running":
        if current == "running":  # a renewal of the claim
            return await external.renew(
                record.task_id, worker_id=worker_id, lease_s=report.lease_seconds
            )
        return await external.start(
            record,
            worker_id=worker_id or principal.user,
            lease_s=report.lease_seconds or DEFAULT_LEASE_S,
        )
    if report.status == "cancelled":
        lease = Lease.of(record)
        if worker_id is not None and current == "running":
            external.held_by(record, worker_id)  # 409 unless this worker holds it
        cancelled, _ = await services.writer.cancel(
            record.task_id, reason=report.error_message or f"cancelled by {principal.user}"
        )
        await external.release(lease)
        return cancelled
    return await external.finish(
        record.task_id,
        status=TaskStatus.COMPLETED if report.status == "completed" else TaskStatus.FAILED,
        result=report.result,
        error_message=report.error_message,
        worker_id=worker_id,
    )
