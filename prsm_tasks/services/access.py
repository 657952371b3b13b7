"""Who is asking, and what they may see: the caller of every service, whatever the surface.

A caller belongs to one tenant. Another tenant's task does not exist for them (404); another
user's task of their tenant is forbidden (403) unless their role lets them see it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from prsm_tasks import wire
from prsm_tasks.errors import ForbiddenError, TaskNotFoundError

ADMIN_ROLE = "admin"  # sees and cancels every task of its tenant
WORKER_ROLE = "worker"  # the task list: sees, claims and updates every task of its tenant


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    tenant: str
    roles: frozenset[str]
    # the hub's brands this user may act in (the token's ``brands`` claim; services/hub/brands)
    brands: frozenset[int] = frozenset()
    # the key of this caller's rate-limit bucket, made once: the verifier hands the same
    # principal to every request of a token
    owner_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # JSON: no separator a claim could contain
        object.__setattr__(self, "owner_key", json.dumps([self.tenant, self.user]))

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def may_work(self) -> bool:
        """Tenant admins and the ``worker`` role see, claim and update the tenant's tasks."""
        return self.is_admin or WORKER_ROLE in self.roles


def check_access(
    record: dict[str, Any], principal: Principal, task_id: str, *, everyone: bool | None = None
) -> None:
    """Another tenant's task does not exist (404); another user's is forbidden (403) unless
    ``everyone`` (default: the caller is a tenant admin)."""
    if record.get("tenant") != principal.tenant:
        raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id)
    sees_all = principal.is_admin if everyone is None else everyone
    if record.get("user") != principal.user and not sees_all:
        raise ForbiddenError(f"task {task_id} belongs to another user", task_id=task_id)


def check_task_id(task_id: str) -> str:
    """A malformed id names no task: 404, like a missing one."""
    if not wire.is_task_id(task_id):
        raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id)
    return task_id
