"""The task-type registry and the task list (/api/…) in the HTTP SDK: the bases of ``TaskAPI``
and ``SyncTaskAPI`` (client/http.py), above the transport (client/transport.py).

An external worker in ten lines::

    with SyncTaskAPI(url, token) as api:
        while True:
            task = api.claim_task(task_type="thumbnail", worker_id="w1", lease_seconds=60)
            if task is None:
                time.sleep(1)
                continue
            try:
                api.complete_task(task["id"], make_thumbnail(**task["parameters"]), worker_id="w1")
            except Exception as exc:
                api.fail_task(task["id"], str(exc), worker_id="w1")
"""

from __future__ import annotations

from typing import Any

from prsm_tasks.client.transport import HttpTransport, SyncTransport

# a task as /api/tasks paths name it: its number (the ``id`` answered) or its task id
TaskRef = int | str


class TaskListCalls(HttpTransport):
    """The task-type registry and the task list (seed 001's routes under /api/)."""

    # --- task types ------------------------------------------------------------------------

    async def create_task_type(
        self,
        name: str,
        parameters_schema: dict[str, Any] | None = None,
        *,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "metadata": metadata or {}}
        if parameters_schema is not None:
            body["parameters_schema"] = parameters_schema
        if description is not None:
            body["description"] = description
        return await self.request("POST", "/api/task-types", json=body)

    async def task_types(self, *, include_inactive: bool = False) -> list[dict[str, Any]]:
        params = {"include_inactive": "true" if include_inactive else "false"}
        return await self.request("GET", "/api/task-types", params=params)

    async def task_type(self, task_type_id: int) -> dict[str, Any]:
        return await self.request("GET", f"/api/task-types/{task_type_id}")

    async def update_task_type(self, task_type_id: int, **fields: Any) -> dict[str, Any]:
        """``description``, ``parameters_schema``, ``metadata``, ``is_active``."""
        return await self.request("PUT", f"/api/task-types/{task_type_id}", json=fields)

    async def delete_task_type(self, task_type_id: int) -> None:
        await self.request("DELETE", f"/api/task-types/{task_type_id}")

    # --- the task list ---------------------------------------------------------------------

    async def create_task(
        self,
        task_type: str | int,
        parameters: dict[str, Any] | None = None,
        *,
        priority: int = 500,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A task of a type given by name or id; ``priority`` 1..1000, lower = more urgent."""
        body: dict[str, Any] = {
            "parameters": parameters or {},
            "priority": priority,
            "metadata": metadata or {},
        }
        body["task_type_id" if isinstance(task_type, int) else "task_type"] = task_type
        return await self.request("POST", "/api/tasks", json=body)

    async def get_task(self, task_id: TaskRef) -> dict[str, Any]:
        return await self.request("GET", f"/api/tasks/{task_id}")

    async def task_list(
        self, *, task_type_id: int | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        params = {"task_type_id": task_type_id, "status": status, "limit": limit}
        return await self.request("GET", "/api/tasks", params=params)

    async def update_task(self, task_id: TaskRef, **fields: Any) -> dict[str, Any]:
        """``status``, ``priority``, ``parameters``, ``metadata``, ``result``,
        ``error_message``, ``worker_id``, ``lease_seconds``."""
        return await self.request("PUT", f"/api/tasks/{task_id}", json=fields)

    async def delete_task(self, task_id: TaskRef) -> None:
        await self.request("DELETE", f"/api/tasks/{task_id}")

    async def claim_task(
        self,
        *,
        worker_id: str,
        task_type: str | None = None,
        queue_name: str | None = None,
        lease_seconds: float = 60.0,
    ) -> dict[str, Any] | None:
        """One task now running on ``worker_id``, or None when there is none."""
        body: dict[str, Any] = {"worker_id": worker_id, "lease_seconds": lease_seconds}
        if task_type is not None:
            body["task_type"] = task_type
        if queue_name is not None:
            body["queue_name"] = queue_name
        return await self.request("POST", "/api/tasks/claim", json=body)

    async def renew_lease(
        self, task_id: TaskRef, *, worker_id: str, lease_seconds: float | None = None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"status": "running", "worker_id": worker_id}
        if lease_seconds is not None:
            fields["lease_seconds"] = lease_seconds
        return await self.update_task(task_id, **fields)

    async def complete_task(
        self, task_id: TaskRef, result: Any = None, *, worker_id: str | None = None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"status": "completed", "result": result}
        if worker_id is not None:
            fields["worker_id"] = worker_id
        return await self.update_task(task_id, **fields)

    async def fail_task(
        self, task_id: TaskRef, error_message: str, *, worker_id: str | None = None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"status": "failed", "error_message": error_message}
        if worker_id is not None:
            fields["worker_id"] = worker_id
        return await self.update_task(task_id, **fields)


class SyncTaskListCalls(SyncTransport):
    """``TaskListCalls``, blocking."""

    _api: TaskListCalls

    def create_task_type(self, name: str, parameters_schema: Any = None, **kw: Any) -> Any:
        return self._run(self._api.create_task_type(name, parameters_schema, **kw))

    def task_types(self, *, include_inactive: bool = False) -> list[dict[str, Any]]:
        return self._run(self._api.task_types(include_inactive=include_inactive))

    def task_type(self, task_type_id: int) -> dict[str, Any]:
        return self._run(self._api.task_type(task_type_id))

    def update_task_type(self, task_type_id: int, **fields: Any) -> dict[str, Any]:
        return self._run(self._api.update_task_type(task_type_id, **fields))

    def delete_task_type(self, task_type_id: int) -> None:
        self._run(self._api.delete_task_type(task_type_id))

    def create_task(self, task_type: str | int, parameters: Any = None, **kw: Any) -> Any:
        return self._run(self._api.create_task(task_type, parameters, **kw))

    def get_task(self, task_id: TaskRef) -> dict[str, Any]:
        return self._run(self._api.get_task(task_id))

    def task_list(self, **filters: Any) -> list[dict[str, Any]]:
        return self._run(self._api.task_list(**filters))

    def update_task(self, task_id: TaskRef, **fields: Any) -> dict[str, Any]:
        return self._run(self._api.update_task(task_id, **fields))

    def delete_task(self, task_id: TaskRef) -> None:
        self._run(self._api.delete_task(task_id))

    def claim_task(self, **options: Any) -> dict[str, Any] | None:
        return self._run(self._api.claim_task(**options))

    def renew_lease(self, task_id: TaskRef, **options: Any) -> dict[str, Any]:
        return self._run(self._api.renew_lease(task_id, **options))

    def complete_task(self, task_id: TaskRef, result: Any = None, **options: Any) -> dict[str, Any]:
        return self._run(self._api.complete_task(task_id, result, **options))

    def fail_task(self, task_id: TaskRef, error_message: str, **options: Any) -> dict[str, Any]:
        return self._run(self._api.fail_task(task_id, error_message, **options))
