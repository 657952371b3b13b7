"""Dependencies between one-off tasks: the rules live in the records.

A child names its parents (``depends_on``) and is stored ``waiting``, with no work message;
each parent names its children (``dependents``), appended by compare-and-set. Whoever
writes a parent's final record (or, for ``any``, its first claim) calls the hook with the
record it wrote; the hook evaluates each child from the records as they are now:

- every parent met -> the child is released (``WorkWriter.release``: waiting -> enqueued or
  scheduled, then its work message);
- a ``success`` parent failed (failed, timeout, or gone) -> the child fails with error type
  ``dependency_failed``; a ``success`` parent cancelled -> the child is cancelled (a
  cascade). Either way the child is final, so its own children are evaluated in turn.

No wake-up is lost: an append either lands before the parent's final write (the CAS
serialises them, so the final record names the child and its hook sees it) or after it
(then the append's read shows the parent decided, and the child is evaluated at once).
Evaluating is idempotent: release and the failure are CAS transitions from ``waiting``.
A hook lost to a crash is healed by the repair, which evaluates old waiting children.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import structlog

from prsm_tasks import models, wire
from prsm_tasks.errors import (
    ParentTaskNotFoundError,
    TaskNotFoundError,
    TooManyDependentsError,
    TransitionConflictError,
    ValidationError,
)
from prsm_tasks.models import ErrorInfo, TaskDependency, TaskRecord, TaskStatus
from prsm_tasks.store.events import event_payload
from prsm_tasks.store.tasks import TaskStore

if TYPE_CHECKING:
    from prsm_tasks.store.work import WorkWriter

log = structlog.get_logger("prsm.graph")

MAX_PARENTS = 32
MAX_DEPENDENTS = 1000  # children one task may have: the parent's record stays small
# appends racing past the check before the write: the hard bound is a little higher
DEPENDENTS_SLACK = 64
CASCADE_LIMIT = 10_000  # children one hook call evaluates; the repair goes on from there
CAS_ATTEMPTS = 64
READ_WINDOW = 64
GRAPH_ROOT = "graph_root"  # metadata of a graph's task with no parent: waiting till all is written
DEPENDENCY_FAILED = "dependency_failed"


class Decision(enum.Enum):
    PENDING = "pending"
    MET = "met"
    FAILED = "failed"  # a success parent failed: the child fails
    CANCELLED = "cancelled"  # a success parent was cancelled: the child is cancelled


def parent_decision(dependency: TaskDependency, parent: TaskRecord | None) -> Decision:
    """What one parent, as it is now (None: gone), means for a child waiting on it.

    A parent that is gone was final once (records are deleted or expire only then): it
    met ``completion`` and ``any``, and ``success`` cannot know it completed.
    """
    if parent is None:
        return Decision.MET if dependency.type != "success" else Decision.FAILED
    if dependency.type == "any":
        return Decision.MET if parent.is_final or parent.attempts else Decision.PENDING
    if dependency.type == "completion":
        return Decision.MET if parent.is_final else Decision.PENDING
    if parent.status is TaskStatus.COMPLETED:
        return Decision.MET
    if parent.status is TaskStatus.CANCELLED:
        return Decision.CANCELLED
    if parent.status in (TaskStatus.FAILED, TaskStatus.TIMEOUT):
        return Decision.FAILED
    return Decision.PENDING


def child_decision(
    child: TaskRecord, parents: Sequence[TaskRecord | None]
) -> tuple[Decision, str | None]:
    """The child's fate from its parents (in ``depends_on`` order): the first parent that
    breaks it decides, else met when all are met; with the parent that decided."""
    pending = False
    for dependency, parent in zip(child.depends_on, parents, strict=True):
        decision = parent_decision(dependency, parent)
        if decision in (Decision.FAILED, Decision.CANCELLED):
            return decision, dependency.task_id
        pending = pending or decision is Decision.PENDING
    return (Decision.PENDING, None) if pending else (Decision.MET, None)


def check_depends_on(
    depends_on: Sequence[TaskDependency], task_id: str, *, field: str = "depends_on"
) -> None:
    """The checks that need no read: 1..MAX_PARENTS well-formed ids, no duplicate, not itself."""
    if not 1 <= len(depends_on) <= MAX_PARENTS:
        raise ValidationError(
            f"{field}: between 1 and {MAX_PARENTS} parent tasks, got {len(depends_on)}",
            field=field,
        )
    seen: set[str] = set()
    for index, dependency in enumerate(depends_on):
        where = f"{field}[{index}].task_id"
        if not wire.is_task_id(dependency.task_id):
            raise ValidationError(
                f"{where}: not a task id, got {dependency.task_id[:64]!r}", field=where
            )
        if dependency.task_id in seen:
            raise ValidationError(f"{where}: {dependency.task_id} is named twice", field=where)
        if dependency.task_id == task_id:
            raise ValidationError(f"{where}: a task cannot depend on itself", field=where)
        seen.add(dependency.task_id)


class TaskGraph:
    """The dependency rules of a writer's tasks: checks, appends, the hooks, the cascade."""

    def __init__(self, store: TaskStore, writer: WorkWriter) -> None:
        self._store = store
        self._writer = writer

    # --- before anything is written ---------------------------------------------------------

    async def check_parents(
        self,
        tenant: str | None,
        depends_on: Sequence[TaskDependency],
        *,
        field: str = "depends_on",
        known: frozenset[str] = frozenset(),
    ) -> None:
        """Each parent exists for ``tenant`` (another tenant's is as missing) and takes
        another child; refuses naming ``field[i].task_id`` otherwise. Parents in ``known``
        (written by the same call) are not read."""
        outside = [(i, dep) for i, dep in enumerate(depends_on) if dep.task_id not in known]
        parents = await self._read_all(dependency.task_id for _, dependency in outside)
        for (index, dependency), parent in zip(outside, parents, strict=True):
            where = f"{field}[{index}].task_id"
            if parent is None or parent.tenant != tenant:
                raise ParentTaskNotFoundError(
                    f"{where}: task {dependency.task_id} not found", field=where
                )
            if len(parent.dependents) >= MAX_DEPENDENTS:
                raise TooManyDependentsError(
                    f"{where}: task {dependency.task_id} has {MAX_DEPENDENTS} dependents already",
                    field=where,
                )

    # --- linking a child to its parents ------------------------------------------------------

    async def attach(self, children: Sequence[TaskRecord]) -> None:
        """Name each child (stored waiting) in its parents' ``dependents``; a child with a
        parent found already decided by the append's read is evaluated at once."""
        by_parent: dict[str, list[TaskRecord]] = {}
        for child in children:
            for dependency in child.depends_on:
                by_parent.setdefault(dependency.task_id, []).append(child)
        decided: dict[str, None] = {}
        parent_ids = list(by_parent)
        for start in range(0, len(parent_ids), READ_WINDOW):
            window = parent_ids[start : start + READ_WINDOW]
            results = await asyncio.gather(
                *(self._append(parent_id, by_parent[parent_id]) for parent_id in window),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                decided.update(dict.fromkeys(result))
        if decided:
            await self.cascade(list(decided))

    async def _append(self, parent_id: str, children: list[TaskRecord]) -> list[str]:
        """Append ``children`` to the parent's dependents by CAS; the children it already
        decides (it met or broke them when read), which need no append."""
        for _ in range(CAS_ATTEMPTS):
            try:
                parent, rev = await self._store.get(parent_id)
            except TaskNotFoundError:
                return [child.task_id for child in children]
            pending = [
                child.task_id
                for child in children
                if parent_decision(_dependency_on(child, parent_id), parent) is Decision.PENDING
            ]
            decided = [child.task_id for child in children if child.task_id not in pending]
            new = [task_id for task_id in pending if task_id not in parent.dependents]
            if not new:
                return decided
            if len(parent.dependents) + len(new) > MAX_DEPENDENTS + DEPENDENTS_SLACK:
                await self._refuse(new, parent_id)
                raise TooManyDependentsError(
                    f"task {parent_id} has {MAX_DEPENDENTS} dependents already", field="depends_on"
                )
            grown = parent.model_copy(update={"dependents": [*parent.dependents, *new]})
            try:
                # the race this CAS settles: a parent's final write after it names the child
                # (its hook evaluates it); one before it fails this CAS, and the re-read
                # shows the parent decided
                await self._store.put(grown, last_rev=rev)
            except TransitionConflictError:
                continue
            return decided
        raise TransitionConflictError(
            f"task {parent_id} kept changing while children were added", task_id=parent_id
        )

    async def _refuse(self, task_ids: list[str], parent_id: str) -> None:
        """Children written before the bound was found full end cancelled, saying why."""
        reason = f"not accepted: task {parent_id} has too many dependents"
        for task_id in task_ids:
            await self._end(task_id, Decision.CANCELLED, parent_id, reason=reason)

    async def heal(self, task_ids: Iterable[str]) -> int:
        """The repair of waiting children: name each in its parents again (a writer that
        died before it did; a no-op otherwise) and evaluate it if a parent is decided; a
        graph's root left waiting is released. How many were looked at."""
        records = [r for r in await self._read_all(task_ids) if r is not None]
        waiting = [r for r in records if r.status is TaskStatus.WAITING]
        roots = [r.task_id for r in waiting if not r.depends_on and r.metadata.get(GRAPH_ROOT)]
        await self.attach([r for r in waiting if r.depends_on])
        for task_id in roots:
            await self._writer.release(task_id)
        return len(records)

    # --- the hooks ---------------------------------------------------------------------------

    async def after_final(self, record: TaskRecord) -> None:
        """A task is final: evaluate its children (a no-op for a task with none)."""
        if record.dependents:
            await self.cascade(record.dependents)

    async def after_start(self, record: TaskRecord) -> None:
        """A task's first claim is written: its ``any`` children may go."""
        if record.dependents:
            await self.cascade(record.dependents)

    async def cascade(self, task_ids: Iterable[str]) -> int:
        """Evaluate ``task_ids``, then the children of those that ended, breadth first, at
        most CASCADE_LIMIT tasks (the repair evaluates what is left); how many were."""
        queue = list(dict.fromkeys(task_ids))
        seen = set(queue)
        evaluated = 0
        while queue and evaluated < CASCADE_LIMIT:
            window, queue = queue[:READ_WINDOW], queue[READ_WINDOW:]
            evaluated += len(window)
            results = await asyncio.gather(*(self.evaluate(task_id) for task_id in window))
            for grandchildren in results:
                for task_id in grandchildren:
                    if task_id not in seen:
                        seen.add(task_id)
                        queue.append(task_id)
        if queue:
            log.warning("dependency_cascade_cut", left=len(queue), evaluated=evaluated)
        return evaluated

    async def evaluate(self, task_id: str) -> list[str]:
        """Release, fail or cancel one waiting child as its parents say; the children of a
        child that ended here (for the cascade). Idempotent."""
        try:
            child, _ = await self._store.get(task_id)
        except TaskNotFoundError:
            return []
        if child.status is not TaskStatus.WAITING:
            return []
        if not child.depends_on:
            if child.metadata.get(GRAPH_ROOT):
                await self._writer.release(task_id)
            return []  # a batch's waiting task: its batch lets it go
        parents = await self._read_all(dependency.task_id for dependency in child.depends_on)
        decision, parent_id = child_decision(child, parents)
        if decision is Decision.PENDING:
            return []
        if decision is Decision.MET:
            await self._writer.release(task_id)
            return []
        assert parent_id is not None
        ended = await self._end(task_id, decision, parent_id)
        return ended.dependents if ended is not None else []

    async def _end(
        self, task_id: str, decision: Decision, parent_id: str, *, reason: str | None = None
    ) -> TaskRecord | None:
        """waiting -> failed (dependency_failed) or cancelled, by CAS; its event. None when
        it was no longer waiting (another evaluation, a cancel, a release got there)."""
        for _ in range(CAS_ATTEMPTS):
            try:
                child, rev = await self._store.get(task_id)
            except TaskNotFoundError:
                return None
            if child.status is not TaskStatus.WAITING:
                return None
            now = time.time()
            if decision is Decision.FAILED:
                error = ErrorInfo(
                    type=DEPENDENCY_FAILED,
                    message=f"parent task {parent_id} did not complete",
                )
                ended = models.finish_unsuccessfully(
                    child, status=TaskStatus.FAILED, error=error, now=now
                )
            else:
                text = reason or f"cascade: parent task {parent_id} was cancelled"
                ended = models.cancel(child, now=now, reason=text)
            try:
                await self._store.put(ended, last_rev=rev)
            except TransitionConflictError:
                continue
            await self._announce(ended)
            return ended
        return None

    async def _announce(self, ended: TaskRecord) -> None:
        assert ended.error is not None
        if ended.status is TaskStatus.FAILED:
            event, data = (
                "task_failed",
                {"error": ended.error.message, "error_type": ended.error.type},
            )
        else:
            event, data = "task_cancelled", {"was_processing": False, "reason": ended.error.message}
        log.info("dependency_ended_task", task_id=ended.task_id, status=str(ended.status))
        await self._writer.events.publish(event_payload(ended, event, now=time.time(), data=data))

    async def _read_all(self, task_ids: Iterable[str]) -> list[TaskRecord | None]:
        """The records of ``task_ids`` (None: not found), read in windows."""
        ids = list(task_ids)
        records: list[TaskRecord | None] = []
        for start in range(0, len(ids), READ_WINDOW):
            reads = await asyncio.gather(
                *(self._store.find(task_id) for task_id in ids[start : start + READ_WINDOW])
            )
            records.extend(found[0] if found is not None else None for found in reads)
        return records


def _dependency_on(child: TaskRecord, parent_id: str) -> TaskDependency:
    return next(dep for dep in child.depends_on if dep.task_id == parent_id)
