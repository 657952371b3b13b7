"""Dependencies between schedules: their types, the cycle check, and which parent run a run
of the child waits for.

``success``: the parent's latest run at or before this due time completed; ``completion``: it
reached any final state; ``any``: it has fired. A run of the child is an ordinary task whose
``depends_on`` names those parent runs (the engine holds it ``waiting`` until they are met);
here the rule that picks them, and the graph check: an edge that would close a cycle is
refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prsm_tasks.models import TaskDependency
from prsm_tasks.schedules.record import Dependency, RecentRun, ScheduleRecord

MAX_DEPENDENCIES = 32  # per schedule
MAX_GRAPH_NODES = 10_000  # a walk that reaches more stops: the graph is bounded per tenant
SAME_DUE_S = 1e-3  # due times are compared as floats read back from msgpack


def would_cycle(child: str, parent: str, parents_of: Callable[[str], Iterable[str]]) -> bool:
    """Whether the edge child -> parent closes a cycle: ``child`` is reachable from
    ``parent`` by following parents (``parents_of``: a schedule's parents, as stored)."""
    if child == parent:
        return True
    seen = {parent}
    stack = [parent]
    while stack:
        current = stack.pop()
        for upstream in parents_of(current):
            if upstream == child:
                return True
            if upstream not in seen and len(seen) < MAX_GRAPH_NODES:
                seen.add(upstream)
                stack.append(upstream)
    return False


def parent_run(parent: ScheduleRecord, due_at: float) -> RecentRun | None:
    """The run of ``parent`` that a child's run due at ``due_at`` waits for: the parent's
    latest run at or before that due time; when it has none yet (the child is due before
    the parent's first run), its first run after it. None: the parent has not run at all.

    Read from the parent's ``recent_runs`` (its newest 20): a child converted so late that
    the parent ran 20 times since its due time waits for the oldest of those instead."""
    runs = sorted(parent.recent_runs, key=lambda run: run.due_at)
    before = [run for run in runs if run.due_at <= due_at + SAME_DUE_S]
    if before:
        return before[-1]
    return runs[0] if runs else None


@dataclass(frozen=True)
class Resolution:
    """What a run of the child due at some time waits for."""

    depends_on: tuple[TaskDependency, ...] = ()
    # parent run task id -> its schedule id (kept in the run's metadata, for the answers)
    parent_of_run: dict[str, str] = field(default_factory=dict)
    # parent schedules with no run to wait on yet: the run is held until they fire
    waiting_on: tuple[str, ...] = ()
    # parents deleted: their dependency is dropped from the child (ON DELETE CASCADE)
    deleted: tuple[str, ...] = ()
    # parents that will never run (completed without a run): not waited for by this run
    finished: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.waiting_on


def resolve(
    dependencies: Sequence[Dependency],
    parents: Mapping[str, ScheduleRecord | None],
    due_at: float,
) -> Resolution:
    """The parent runs a run of the child due at ``due_at`` depends on (``parents``: each
    dependency's parent record as read now; None when it was deleted)."""
    depends_on: list[TaskDependency] = []
    parent_of_run: dict[str, str] = {}
    waiting_on: list[str] = []
    deleted: list[str] = []
    finished: list[str] = []
    for dependency in dependencies:
        parent = parents.get(dependency.depends_on)
        if parent is None:
            deleted.append(dependency.depends_on)
            continue
        run = parent_run(parent, due_at)
        if run is not None:
            depends_on.append(TaskDependency(task_id=run.task_id, type=dependency.type))
            parent_of_run[run.task_id] = parent.schedule_id
        elif parent.status == "completed" or parent.next_due_at is None:
            finished.append(parent.schedule_id)
        else:
            waiting_on.append(parent.schedule_id)
    return Resolution(
        depends_on=tuple(depends_on),
        parent_of_run=parent_of_run,
        waiting_on=tuple(waiting_on),
        deleted=tuple(deleted),
        finished=tuple(finished),
    )


WAIT_SLACK_S = 2.0  # after a parent's due time: its fire has been converted by then
MAX_WAIT_RETRY_S = 60.0


def wake_at(parents: Iterable[ScheduleRecord], now: float) -> float | None:
    """When to look again at runs held for ``parents`` (the parents still without a run):
    just after the earliest parent's next due time, when its fire has made a run. A parent
    late to fire (its nodes down) is looked at again after a delay that grows with how late
    it is, up to a minute; one that has run (or ended) since, at once. None: every such
    parent is paused (its resume wakes the child)."""
    times = []
    for parent in parents:
        if parent.recent_runs or parent.status == "completed":
            # it ran, or ended, since the held runs were resolved: resolve them again now
            times.append(now)
            continue
        if parent.status != "scheduled" or parent.next_due_at is None:
            continue
        late_s = now - parent.next_due_at
        if late_s <= 0:
            times.append(parent.next_due_at + WAIT_SLACK_S)
        else:
            times.append(now + min(MAX_WAIT_RETRY_S, max(WAIT_SLACK_S, late_s)))
    return min(times) if times else None
