"""The HTTP SDK: the PRSM Task API of an edge node, async (``TaskAPI``) and sync (``SyncTaskAPI``).

::

    async with TaskAPI("http://127.0.0.1:8080", token) as api:
        task = await api.enqueue("ml_inference_queue", {"input_text": "great"}, priority=7)
        final = await api.wait(task["task_id"])

Answers are the JSON bodies of the API as dicts. An error answer raises the ``PrsmError``
subclass whose ``code`` the server sent (``TaskNotFoundError`` for ``task_not_found``, ...),
carrying the server's message, ``task_id`` and details.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

from prsm_tasks.client.task_list import SyncTaskListCalls, TaskListCalls
from prsm_tasks.errors import TaskTimeoutError

T = TypeVar("T")
FINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "timeout"})
PAGE_LIMIT = 100


class TaskAPI(TaskListCalls):
    """The PRSM Task API (seed 000) of one edge, beside the task-list calls it inherits."""

    # --- the Task API ----------------------------------------------------------------------

    async def enqueue(
        self,
        queue_name: str,
        task_data: dict[str, Any],
        *,
        priority: int = 5,
        retry_count: int = 3,
        timeout_seconds: float = 300.0,
        task_type: str | None = None,
        idempotency_key: str | None = None,
        require_worker: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "queue_name": queue_name,
            "task_data": task_data,
            "priority": priority,
            "retry_count": retry_count,
            "timeout_seconds": timeout_seconds,
        }
        for key, value in (
            ("task_type", task_type),
            ("idempotency_key", idempotency_key),
            ("require_worker", require_worker or None),
        ):
            if value is not None:
                body[key] = value
        return await self.request("POST", "/enqueue", json=body)

    async def status(self, task_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/status/{task_id}")

    async def result(self, task_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/result/{task_id}")

    async def cancel(self, task_id: str) -> dict[str, Any]:
        return await self.request("DELETE", f"/cancel/{task_id}")

    async def wait(
        self,
        task_id: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's documented parameter
        *,
        poll_interval_s: float = 0.05,
        max_interval_s: float = 1.0,
    ) -> dict[str, Any]:
        """The task's status once it is final (completed, failed, cancelled or timeout)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_interval_s
        while True:
            current = await self.status(task_id)
            if current["status"] in FINAL_STATUSES:
                return current
            if deadline is not None and time.monotonic() + interval > deadline:
                raise TaskTimeoutError(
                    f"task {task_id} did not finish within {timeout} s", task_id=task_id
                )
            await asyncio.sleep(interval)
            interval = min(max_interval_s, interval * 1.5)

    async def queue_stats(self, queue_name: str) -> dict[str, Any]:
        return await self.request("GET", f"/queue/{queue_name}/stats")

    async def list_page(
        self,
        *,
        status: str | None = None,
        queue_name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        params = {"status": status, "queue_name": queue_name, "limit": limit, "offset": offset}
        return await self.request("GET", "/tasks", params=params)

    async def list_tasks(
        self,
        *,
        status: str | None = None,
        queue_name: str | None = None,
        page_size: int = PAGE_LIMIT,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching task, newest first, page after page."""
        offset = 0
        while True:
            page = await self.list_page(
                status=status, queue_name=queue_name, limit=page_size, offset=offset
            )
            for task in page["tasks"]:
                yield task
            if not page["pagination"]["has_more"] or not page["tasks"]:
                return
            offset += len(page["tasks"])

    async def bulk_enqueue(
        self,
        queue_name: str,
        tasks: list[dict[str, Any]],
        *,
        parallel_execution: bool = True,
        max_concurrent: int | None = None,
        fail_fast: bool = False,
    ) -> dict[str, Any]:
        """``tasks``: ``[{"task_data": {...}, "priority": 5}, ...]`` (at most 1,000)."""
        options: dict[str, Any] = {"parallel_execution": parallel_execution, "fail_fast": fail_fast}
        if max_concurrent is not None:
            options["max_concurrent"] = max_concurrent
        body = {"queue_name": queue_name, "tasks": tasks, "batch_options": options}
        return await self.request("POST", "/bulk/enqueue", json=body)

    async def health(self) -> dict[str, Any]:
        """The health document; an unhealthy system (503) is answered, not raised."""
        return await self.request("GET", "/health", accept=(503,))

    async def inspect_queues(self, queue_name: str | None = None) -> dict[str, Any]:
        """Per queue: your tenant's depth by band, running, finished in the last hour."""
        return await self.request("GET", "/api/inspect/queues", params={"queue_name": queue_name})

    async def inspect_nodes(self) -> dict[str, Any]:
        """The peer nodes (capacity, load, version, last seen); needs the admin role."""
        return await self.request("GET", "/api/inspect/nodes")


class SyncTaskAPI(SyncTaskListCalls):
    """The same calls, blocking: each runs on this object's own event loop."""

    _api: TaskAPI

    def __init__(self, base_url: str, token: str | None = None, *, timeout_s: float = 30.0):
        super().__init__(TaskAPI(base_url, token, timeout_s=timeout_s))

    def enqueue(self, queue_name: str, task_data: dict[str, Any], **options: Any) -> dict[str, Any]:
        return self._run(self._api.enqueue(queue_name, task_data, **options))

    def status(self, task_id: str) -> dict[str, Any]:
        return self._run(self._api.status(task_id))

    def result(self, task_id: str) -> dict[str, Any]:
        return self._run(self._api.result(task_id))

    def cancel(self, task_id: str) -> dict[str, Any]:
        return self._run(self._api.cancel(task_id))

    def wait(self, task_id: str, timeout: float | None = None, **options: Any) -> dict[str, Any]:
        return self._run(self._api.wait(task_id, timeout, **options))

    def queue_stats(self, queue_name: str) -> dict[str, Any]:
        return self._run(self._api.queue_stats(queue_name))

    def list_tasks(self, **filters: Any) -> Iterator[dict[str, Any]]:
        pages = self._api.list_tasks(**filters)
        while True:
            try:
                yield self._run(pages.__anext__())
            except StopAsyncIteration:
                return

    def bulk_enqueue(
        self, queue_name: str, tasks: list[dict[str, Any]], **options: Any
    ) -> dict[str, Any]:
        return self._run(self._api.bulk_enqueue(queue_name, tasks, **options))

    def health(self) -> dict[str, Any]:
        return self._run(self._api.health())
