"""Which parent run a child's run waits for (pure: no server)."""

from __future__ import annotations

from prsm_tasks.models import TaskDependency
from prsm_tasks.schedules.dependencies import WAIT_SLACK_S, parent_run, resolve, wake_at
from prsm_tasks.schedules.record import Dependency, RecentRun, ScheduleRecord

PARENT = "00000000-0000-4000-8000-000000000001"
OTHER = "00000000-0000-4000-8000-000000000002"


def schedule(schedule_id: str, runs: list[float], **fields: object) -> ScheduleRecord:
    record = ScheduleRecord(
        schedule_id=schedule_id,
        tenant="t",
        user="u",
        task_name="parent",
        kind="interval",
        expression="60",
        at=0.0,
        created_at=0.0,
        updated_at=0.0,
        next_due_at=1000.0,
        recent_runs=[
            RecentRun(task_id=f"task_{due:g}", due_at=due, created_at=due) for due in runs
        ],
    )
    return record.model_copy(update=fields)


def depends(parent: str, kind: str = "success") -> Dependency:
    return Dependency(dependency_id=f"d-{parent}", depends_on=parent, type=kind, created_at=0.0)  # type: ignore[arg-type]


def test_the_latest_parent_run_at_or_before_the_due_time_is_waited_for() -> None:
    parent = schedule(PARENT, [100.0, 200.0, 300.0])
    assert parent_run(parent, 250.0).task_id == "task_200"  # type: ignore[union-attr]
    assert parent_run(parent, 300.0).task_id == "task_300"  # type: ignore[union-attr]
    assert parent_run(parent, 999.0).task_id == "task_300"  # type: ignore[union-attr]


def test_a_child_due_before_the_parents_first_run_waits_for_that_run() -> None:
    assert parent_run(schedule(PARENT, [300.0, 400.0]), 250.0).task_id == "task_300"  # type: ignore[union-attr]
    assert parent_run(schedule(PARENT, []), 250.0) is None


def test_resolve_names_parent_runs_holds_for_parents_without_one_and_drops_deleted() -> None:
    dependencies = [depends(PARENT, "completion"), depends(OTHER)]
    ran = resolve(dependencies, {PARENT: schedule(PARENT, [10.0]), OTHER: None}, 50.0)
    assert ran.ready
    assert ran.depends_on == (TaskDependency(task_id="task_10", type="completion"),)
    assert ran.parent_of_run == {"task_10": PARENT}
    assert ran.deleted == (OTHER,)

    held = resolve(dependencies, {PARENT: schedule(PARENT, [10.0]), OTHER: schedule(OTHER, [])}, 50)
    assert not held.ready and held.waiting_on == (OTHER,)

    done = schedule(OTHER, [], status="completed", next_due_at=None)
    over = resolve(dependencies, {PARENT: schedule(PARENT, [10.0]), OTHER: done}, 50.0)
    assert over.ready and over.finished == (OTHER,)


def test_held_runs_wake_just_after_the_parents_next_due_time() -> None:
    soon = schedule(PARENT, [], next_due_at=1000.0)
    later = schedule(OTHER, [], next_due_at=2000.0)
    assert wake_at([soon, later], now=900.0) == 1000.0 + WAIT_SLACK_S
    # a parent late to fire is looked at again after a delay growing with its lateness
    assert wake_at([soon], now=1001.0) == 1001.0 + WAIT_SLACK_S
    assert wake_at([soon], now=1030.0) == 1030.0 + 30.0
    assert wake_at([soon], now=5000.0) == 5000.0 + 60.0
    # a paused parent: no timer, its resume wakes the child
    assert wake_at([schedule(PARENT, [], status="paused")], now=900.0) is None


def test_held_runs_wake_at_once_when_a_parent_ran_or_ended_meanwhile() -> None:
    # a parent that fired between the held runs' resolution and their re-arm
    assert wake_at([schedule(PARENT, [950.0], next_due_at=2000.0)], now=960.0) == 960.0
    ended = schedule(PARENT, [], status="completed", next_due_at=None)
    assert wake_at([ended], now=960.0) == 960.0
