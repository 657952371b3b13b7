"""What a task's dependencies look like from outside: its parents, and those it waits for.

Only a task that names parents costs anything here: its status reads each parent (at most
``store.graph.MAX_PARENTS``) to say which of them it still waits for.
"""

from __future__ import annotations

from typing import Any

from prsm_tasks.models import TaskDependency, TaskRecord, TaskStatus
from prsm_tasks.services.core import Services
from prsm_tasks.store.graph import Decision, parent_decision


async def dependency_report(services: Services, raw: dict[str, Any]) -> dict[str, Any]:
    """``depends_on`` (each parent and its type) and ``waiting_for`` (the parents not met
    yet, while the task waits); empty for a task with no parents."""
    named = raw.get("depends_on")
    if not named:
        return {}
    dependencies = [TaskDependency.model_validate(entry) for entry in named]
    waiting_for: list[str] = []
    if raw.get("status") == TaskStatus.WAITING:
        store = services.stores.tasks
        for dependency in dependencies:
            found = await store.find(dependency.task_id)
            parent: TaskRecord | None = found[0] if found is not None else None
            if parent_decision(dependency, parent) is Decision.PENDING:
                waiting_for.append(dependency.task_id)
    return {
        "depends_on": [{"task_id": d.task_id, "type": d.type} for d in dependencies],
        "waiting_for": waiting_for,
    }
