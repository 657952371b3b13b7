"""A task named in a path: its id (``task_...``) or its integer number, the id of the APIs
that number tasks (seed 001's ``/api/...``).

A task's number is its record's create revision (``models.task_number``), made unique
across partitions by ``wire.deployment_task_number``; the edge's
TaskView keeps number -> task id for every task it sees, and the edge puts a task it creates
into the view at once, so a number this edge answered resolves on the next request.
"""

from __future__ import annotations

from typing import Any

from prsm_tasks import models, wire
from prsm_tasks.errors import TaskNotFoundError
from prsm_tasks.services.core import Services

# a bucket revision is a uint64: 20 digits at most; longer is no number of ours
MAX_NUMBER_DIGITS = 20
# what a path of these APIs takes, for their OpenAPI documents
TASK_REF_PATTERN = rf"^({wire.TASK_ID_RE.pattern[1:-1]}|[1-9][0-9]{{0,{MAX_NUMBER_DIGITS - 1}}})$"


def parse_number(ref: str) -> int | None:
    """``ref`` as a task number when it is one, spelled canonically ("7", not "07", "+7")."""
    if not (ref.isascii() and ref.isdigit()) or len(ref) > MAX_NUMBER_DIGITS:
        return None
    number = int(ref)
    return number if number > 0 and ref == str(number) else None


def find(services: Services, ref: str) -> str | None:
    """The task id ``ref`` names (a task id, or a number this edge has seen), or None."""
    if ref.isascii() and ref.isdigit():
        number = parse_number(ref)
        return services.view.task_of_number(number) if number is not None else None
    return ref if wire.is_task_id(ref) else None


def resolve(services: Services, ref: str) -> str:
    """The task id ``ref`` names; 404 ``task_not_found`` when it names none.

    Whose task it is is not checked here: the read that follows answers 404 for another
    tenant's task, whichever way it was named.
    """
    task_id = find(services, ref)
    if task_id is None:
        raise TaskNotFoundError(f"Task with ID {ref} not found", task_id=ref)
    return task_id


def number_of(services: Services, raw: dict[str, Any], rev: int = 0) -> int:
    """The number of a task read as ``raw`` at ``rev`` (0: not known; the view's, then)."""
    if not raw.get("created_rev") and rev <= 0:
        known = services.view.number_of(raw["task_id"])
        if known is not None:
            return known
    return wire.deployment_task_number(
        models.task_number(raw, rev), raw["task_id"], services.stores.tasks.partitions
    )
