"""The scheduler API's SDK (seed 004, ``/api/v1``): ``TaskSchedulerClient`` (blocking) and
``AsyncTaskSchedulerClient``, with the document's method names and typed answers.

::

    from prsm_tasks import TaskSchedulerClient

    client = TaskSchedulerClient(base_url="http://127.0.0.1:8080", api_key=token)
    task = client.create_task(task_name="daily_report", task_type="cron",
                              schedule_expression="0 0 * * *", timezone="America/New_York")
    print(task.task_id, task.next_execution_time)

``api_key`` is sent as the bearer token (a JWT from ``prsm-tasks token``). An error answer
raises the ``PrsmError`` subclass of its ``code``, as the HTTP SDK does (the same transport).
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import datetime
from typing import Any, Literal, TypedDict, Unpack
from urllib.parse import quote

from prsm_tasks.client.scheduler_models import (
    BulkCreated,
    BulkDeleted,
    CancelledExecution,
    Dependency,
    Execution,
    ExecutionLogs,
    Page,
    SystemStatus,
    Task,
    TaskPaused,
    TaskResumed,
    TaskStats,
    TaskUpdate,
    TriggeredExecution,
    Worker,
)
from prsm_tasks.client.transport import HttpTransport, SyncTransport

API = "/api/v1"
DependencyType = Literal["success", "completion", "any"]


class TaskFields(TypedDict, total=False):
    """The fields of a scheduled task that ``create_task`` and ``update_task`` accept."""

    task_name: str
    task_type: str
    schedule_expression: str
    timezone: str
    next_execution_time: datetime | str
    payload: dict[str, Any]
    timeout_seconds: float
    max_retries: int
    priority: str
    tags: dict[str, str]
    enabled: bool
    queue_name: str
    handler_type: str
    misfire_policy: str
    backfill_limit: int


def _path(*segments: str) -> str:
    """The route of these segments under /api/v1, each quoted whole: a ``/`` or ``..`` in an
    id cannot reach another route."""
    return API + "".join("/" + _segment(str(segment)) for segment in segments)


def _segment(text: str) -> str:
    # quote() keeps dots, and the URL library would resolve a "." or ".." segment away
    return text.replace(".", "%2E") if set(text) <= {"."} else quote(text, safe="")


def _body(fields: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of the given fields: a ``datetime`` as ISO-8601 (a naive one is read by
    the server as a wall-clock time of the task's timezone, as the document's strings are)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}


class AsyncTaskSchedulerClient(HttpTransport):
    """The scheduler API of one edge, async: ``async with AsyncTaskSchedulerClient(url, key)``."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout_s: float = 30.0):
        super().__init__(base_url, api_key, timeout_s=timeout_s)

    # --- tasks (the document's "task" is a schedule) ------------------------------------

    async def create_task(
        self, task_name: str, task_type: str, **fields: Unpack[TaskFields]
    ) -> Task:
        body = _body({"task_name": task_name, "task_type": task_type, **fields})
        return Task.model_validate(await self.request("POST", _path("tasks"), json=body))

    async def get_task(self, task_id: str) -> Task:
        return Task.model_validate(await self.request("GET", _path("tasks", task_id)))

    async def list_tasks(
        self,
        *,
        status: str | None = None,
        priority: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[Task]:
        """One page, newest first; ``tag`` is ``key:value``."""
        params = {"status": status, "priority": priority, "tag": tag}
        params |= {"limit": limit, "offset": offset}
        body = await self.request("GET", _path("tasks"), params=params)
        tasks = [Task.model_validate(item) for item in body["tasks"]]
        return Page(tasks, total=body["total"], limit=body["limit"], offset=body["offset"])

    async def update_task(self, task_id: str, **fields: Unpack[TaskFields]) -> TaskUpdate:
        answer = await self.request("PATCH", _path("tasks", task_id), json=_body(dict(fields)))
        return TaskUpdate.model_validate(answer)

    async def delete_task(self, task_id: str) -> None:
        await self.request("DELETE", _path("tasks", task_id))

    async def pause_task(self, task_id: str) -> TaskPaused:
        return TaskPaused.model_validate(
            await self.request("POST", _path("tasks", task_id, "pause"))
        )

    async def resume_task(self, task_id: str) -> TaskResumed:
        answer = await self.request("POST", _path("tasks", task_id, "resume"))
        return TaskResumed.model_validate(answer)

    async def trigger_task(self, task_id: str) -> TriggeredExecution:
        answer = await self.request("POST", _path("tasks", task_id, "trigger"))
        return TriggeredExecution.model_validate(answer)

    # --- executions (one attempt of a run) -----------------------------------------------

    async def get_executions(
        self, task_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> Page[Execution]:
        """The attempts of the task's runs, newest first: a list with the server's ``total``
        (``offset``: an extension, to page through the whole history)."""
        body = await self.request(
            "GET",
            _path("tasks", task_id, "executions"),
            params={"limit": limit, "offset": offset},
        )
        executions = [Execution.model_validate(item) for item in body["executions"]]
        return Page(executions, total=body["total"])

    async def get_execution(self, execution_id: str) -> Execution:
        answer = await self.request("GET", _path("executions", execution_id))
        return Execution.model_validate(answer)

    async def get_execution_logs(self, execution_id: str) -> ExecutionLogs:
        answer = await self.request("GET", _path("executions", execution_id, "logs"))
        return ExecutionLogs.model_validate(answer)

    async def cancel_execution(self, execution_id: str) -> CancelledExecution:
        answer = await self.request("POST", _path("executions", execution_id, "cancel"))
        return CancelledExecution.model_validate(answer)

    # --- dependencies --------------------------------------------------------------------

    async def add_dependency(
        self, task_id: str, depends_on_task_id: str, dependency_type: DependencyType = "success"
    ) -> Dependency:
        body = {"depends_on_task_id": depends_on_task_id, "dependency_type": dependency_type}
        answer = await self.request("POST", _path("tasks", task_id, "dependencies"), json=body)
        return Dependency.model_validate(answer)

    async def list_dependencies(self, task_id: str) -> list[Dependency]:
        body = await self.request("GET", _path("tasks", task_id, "dependencies"))
        return [Dependency.model_validate(item) for item in body["dependencies"]]

    async def remove_dependency(self, task_id: str, dependency_id: str) -> None:
        await self.request("DELETE", _path("tasks", task_id, "dependencies", dependency_id))

    # --- bulk ----------------------------------------------------------------------------

    async def bulk_create_tasks(self, tasks: list[TaskFields]) -> BulkCreated:
        """Each item succeeds or fails on its own: see ``failed`` and ``errors``."""
        body = {"tasks": [_body(dict(task)) for task in tasks]}
        return BulkCreated.model_validate(
            await self.request("POST", _path("tasks", "bulk"), json=body)
        )

    async def bulk_delete_tasks(self, task_ids: list[str]) -> BulkDeleted:
        body = {"task_ids": list(task_ids)}
        answer = await self.request("POST", _path("tasks", "bulk-delete"), json=body)
        return BulkDeleted.model_validate(answer)

    # --- monitoring ----------------------------------------------------------------------

    async def get_status(self) -> SystemStatus:
        return SystemStatus.model_validate(await self.request("GET", _path("status")))

    async def get_task_stats(self, task_id: str) -> TaskStats:
        return TaskStats.model_validate(await self.request("GET", _path("tasks", task_id, "stats")))

    async def get_workers(self) -> Page[Worker]:
        body = await self.request("GET", _path("workers"))
        return Page([Worker.model_validate(item) for item in body["workers"]], total=body["total"])


def _close(loop: asyncio.AbstractEventLoop, api: AsyncTaskSchedulerClient) -> None:
    if not loop.is_closed():
        loop.run_until_complete(api.close())
        loop.close()


class TaskSchedulerClient(SyncTransport):
    """The same calls, blocking, each on this client's own event loop (so not from inside a
    running loop: use ``AsyncTaskSchedulerClient`` there)."""

    _api: AsyncTaskSchedulerClient

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout_s: float = 30.0):
        super().__init__(AsyncTaskSchedulerClient(base_url, api_key, timeout_s=timeout_s))
        # the document's example never closes its client: its session and loop are closed
        # when the client is collected, or at exit, instead of warning about a leaked session
        self._finalizer = weakref.finalize(self, _close, self._loop, self._api)

    def close(self) -> None:
        self._finalizer()

    def create_task(self, task_name: str, task_type: str, **fields: Unpack[TaskFields]) -> Task:
        return self._run(self._api.create_task(task_name, task_type, **fields))

    def get_task(self, task_id: str) -> Task:
        return self._run(self._api.get_task(task_id))

    def list_tasks(
        self,
        *,
        status: str | None = None,
        priority: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[Task]:
        """One page, newest first; ``tag`` is ``key:value``."""
        return self._run(
            self._api.list_tasks(
                status=status, priority=priority, tag=tag, limit=limit, offset=offset
            )
        )

    def update_task(self, task_id: str, **fields: Unpack[TaskFields]) -> TaskUpdate:
        return self._run(self._api.update_task(task_id, **fields))

    def delete_task(self, task_id: str) -> None:
        self._run(self._api.delete_task(task_id))

    def pause_task(self, task_id: str) -> TaskPaused:
        return self._run(self._api.pause_task(task_id))

    def resume_task(self, task_id: str) -> TaskResumed:
        return self._run(self._api.resume_task(task_id))

    def trigger_task(self, task_id: str) -> TriggeredExecution:
        return self._run(self._api.trigger_task(task_id))

    def get_executions(
        self, task_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> Page[Execution]:
        return self._run(self._api.get_executions(task_id, limit=limit, offset=offset))

    def get_execution(self, execution_id: str) -> Execution:
        return self._run(self._api.get_execution(execution_id))

    def get_execution_logs(self, execution_id: str) -> ExecutionLogs:
        return self._run(self._api.get_execution_logs(execution_id))

    def cancel_execution(self, execution_id: str) -> CancelledExecution:
        return self._run(self._api.cancel_execution(execution_id))

    def add_dependency(
        self, task_id: str, depends_on_task_id: str, dependency_type: DependencyType = "success"
    ) -> Dependency:
        return self._run(self._api.add_dependency(task_id, depends_on_task_id, dependency_type))

    def list_dependencies(self, task_id: str) -> list[Dependency]:
        return self._run(self._api.list_dependencies(task_id))

    def remove_dependency(self, task_id: str, dependency_id: str) -> None:
        self._run(self._api.remove_dependency(task_id, dependency_id))

    def bulk_create_tasks(self, tasks: list[TaskFields]) -> BulkCreated:
        return self._run(self._api.bulk_create_tasks(tasks))

    def bulk_delete_tasks(self, task_ids: list[str]) -> BulkDeleted:
        return self._run(self._api.bulk_delete_tasks(task_ids))

    def get_status(self) -> SystemStatus:
        return self._run(self._api.get_status())

    def get_task_stats(self, task_id: str) -> TaskStats:
        return self._run(self._api.get_task_stats(task_id))

    def get_workers(self) -> Page[Worker]:
        return self._run(self._api.get_workers())
