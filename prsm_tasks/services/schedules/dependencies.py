"""Dependencies between schedules, stored in the child's record.

A deleted parent's dependency is dropped from its children (ON DELETE CASCADE), and a
resumed parent wakes the runs its children hold for it (services/schedules/waits.py).

A new edge child -> parent is refused with 409 when it would close a cycle. The check walks
fresh reads of the records; two edges added at once on different edges could each pass it
and make a cycle together, so after its compare-and-set a writer walks again, and the one
that then finds a cycle takes its own edge back and answers 409: the later of two writes
always sees the other, so no cycle stays (at worst both are refused).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from prsm_tasks.errors import (
    ConflictError,
    DependencyCycleError,
    DependencyExistsError,
    DependencyNotFoundError,
    TaskNotFoundError,
)
from prsm_tasks.models import DependencyType
from prsm_tasks.schedules.dependencies import MAX_DEPENDENCIES, MAX_GRAPH_NODES
from prsm_tasks.schedules.record import Dependency, ScheduleRecord
from prsm_tasks.services.access import Principal
from prsm_tasks.services.schedules.core import ScheduleService, check_schedule_access


async def reaches(schedules: ScheduleService, start: str, target: str, tenant: str) -> bool:
    """Whether ``target`` is reachable from ``start`` by following parents (fresh reads)."""
    seen = {start}
    stack = [start]
    while stack and len(seen) <= MAX_GRAPH_NODES:
        current = stack.pop()
        if current == target:
            return True
        try:
            record, _ = await schedules.store.get(current)
        except TaskNotFoundError:
            continue  # a deleted parent ends its path
        if record.tenant != tenant:
            continue
        for dependency in record.dependencies:
            if dependency.depends_on not in seen:
                seen.add(dependency.depends_on)
                stack.append(dependency.depends_on)
    return False


async def add(
    schedules: ScheduleService,
    principal: Principal,
    child_id: str,
    parent_id: str,
    kind: DependencyType,
) -> tuple[Dependency, ScheduleRecord]:
    await schedules.read(child_id, principal)
    parent, _ = await schedules.read(parent_id, principal)
    if await reaches(schedules, parent_id, child_id, principal.tenant):
        raise cycle_error(child_id, parent_id)
    dependency = Dependency(
        dependency_id=str(uuid.uuid4()),
        depends_on=parent_id,
        type=kind,
        created_at=time.time(),
    )

    def change(record: ScheduleRecord) -> ScheduleRecord:
        check_schedule_access(record, principal)
        if any(held.depends_on == parent_id for held in record.dependencies):
            raise DependencyExistsError(
                f"task {child_id} already depends on {parent_id}", task_id=child_id
            )
        if len(record.dependencies) >= MAX_DEPENDENCIES:
            raise ConflictError(
                f"a task has at most {MAX_DEPENDENCIES} dependencies", task_id=child_id
            )
        return record.model_copy(update={"dependencies": [*record.dependencies, dependency]})

    _, after, rev = await schedules.store.update(child_id, change)
    schedules.index.apply(after, rev)
    # a concurrent edge elsewhere may have closed a cycle with ours: walk again after writing
    if await reaches(schedules, parent_id, child_id, principal.tenant):
        await remove(schedules, principal, child_id, dependency.dependency_id)
        raise cycle_error(child_id, parent_id)
    return dependency, parent


def cycle_error(child_id: str, parent_id: str) -> DependencyCycleError:
    return DependencyCycleError(
        f"task {child_id} depending on {parent_id} would make a cycle", task_id=child_id
    )


async def remove(
    schedules: ScheduleService, principal: Principal, child_id: str, dependency_id: str
) -> None:
    await schedules.read(child_id, principal)

    def change(record: ScheduleRecord) -> ScheduleRecord:
        check_schedule_access(record, principal)
        kept = [held for held in record.dependencies if held.dependency_id != dependency_id]
        if len(kept) == len(record.dependencies):
            raise DependencyNotFoundError(
                f"task {child_id} has no dependency {dependency_id[:64]}", task_id=child_id
            )
        return record.model_copy(update={"dependencies": kept})

    _, after, rev = await schedules.store.update(child_id, change)
    schedules.index.apply(after, rev)
    if after.held_runs:  # runs held for that parent may be made without it now
        await schedules.timer.wake(child_id, datetime.now(UTC))


def children_of(schedules: ScheduleService, tenant: str, parent_id: str) -> list[ScheduleRecord]:
    """The tenant's schedules that depend on ``parent_id``, from this edge's index (a child
    it has not seen yet drops a deleted parent itself when its run resolves)."""
    return [
        record
        for record in schedules.index.of_tenant(tenant)
        if any(held.depends_on == parent_id for held in record.dependencies)
    ]


async def wake_children(schedules: ScheduleService, tenant: str, parent_id: str) -> None:
    """A parent was resumed: the runs its children hold for it look again now (their wait
    timer then waits for the parent's next due time)."""
    for child in children_of(schedules, tenant, parent_id):
        if any(parent_id in run.waiting_on for run in child.held_runs):
            await schedules.timer.wake(child.schedule_id, datetime.now(UTC))


async def drop_parent(schedules: ScheduleService, tenant: str, parent_id: str) -> None:
    """A parent was deleted: its dependency goes from each child (ON DELETE CASCADE), and a
    child's held runs waiting for it look again now, without it."""
    for child in children_of(schedules, tenant, parent_id):

        def change(record: ScheduleRecord) -> ScheduleRecord:
            kept = [held for held in record.dependencies if held.depends_on != parent_id]
            if len(kept) == len(record.dependencies):
                return record
            return record.model_copy(update={"dependencies": kept, "updated_at": time.time()})

        try:
            _, after, rev = await schedules.store.update(child.schedule_id, change)
        except TaskNotFoundError:
            continue
        schedules.index.apply(after, rev)
        if after.held_runs:
            await schedules.timer.wake(child.schedule_id, datetime.now(UTC))
