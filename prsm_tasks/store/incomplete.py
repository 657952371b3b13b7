"""What an enqueue that failed half way says it wrote.

A request that answers an error either wrote nothing or names what it wrote: once a task's
record may exist, a NATS failure becomes EnqueueIncompleteError with the task ids, so the
caller looks them up instead of enqueueing them again (the repair, store/repair.py, queues
a recorded task whose work message was never stored).
"""

from __future__ import annotations

from prsm_tasks.errors import EnqueueIncompleteError, PrsmError, ServiceUnavailableError
from prsm_tasks.models import TaskRecord


def incomplete(task_id: str, status: str, cause: PrsmError) -> EnqueueIncompleteError:
    """The error of an enqueue whose record was (or may have been) written without its work."""
    written = "may have been" if status == "unknown" else "was"
    return EnqueueIncompleteError(
        f"task {task_id} {written} recorded but could not be queued ({cause.message}); "
        "look it up by its id: a recorded task is queued by the repair",
        task_id=task_id,
        status=status,
    )


def partly_written(
    written: list[str],
    outcomes: list[TaskRecord | BaseException],
    first_error: BaseException,
) -> BaseException:
    """The error of an ``enqueue_many`` whose window ended in ``outcomes`` (``written``: the
    ids of the windows before it): the first error, or, for NATS trouble,
    EnqueueIncompleteError naming every task that may be written."""
    if not isinstance(first_error, ServiceUnavailableError):
        return first_error
    for outcome in outcomes:
        if isinstance(outcome, TaskRecord) or (
            isinstance(outcome, EnqueueIncompleteError) and outcome.task_id is not None
        ):
            written.append(outcome.task_id)  # recorded, or may be
    error = EnqueueIncompleteError(
        f"{len(written)} tasks may have been recorded before NATS failed "
        f"({first_error.message}); look them up by id: those recorded run",
        status="unknown",
        task_ids=written,
    )
    error.__cause__ = first_error
    return error
