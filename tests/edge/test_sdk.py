"""The HTTP SDK (async and sync) against a real edge and node."""

from __future__ import annotations

import asyncio

import pytest

from prsm_tasks.client.http import SyncTaskAPI, TaskAPI
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.errors import (
    ForbiddenError,
    InvalidTaskDataError,
    TaskAlreadyFinishedError,
    TaskNotCompletedError,
    TaskNotFoundError,
    UnauthorizedError,
    ValidationError,
)
from tests.conftest import NodeFactory
from tests.edge.conftest import token
from tests.edge.handlers import echo


@pytest.mark.partitioned
async def test_async_sdk_end_to_end(edge: RunningEdge, start_node: NodeFactory, queue: str) -> None:
    async with start_node({queue: echo}), TaskAPI(edge.url, token("sdk", "acme")) as api:
        task = await api.enqueue(queue, {"word": "hi"}, priority=8)
        final = await api.wait(task["task_id"], timeout=30)
        assert final["status"] == "completed"
        assert (await api.result(task["task_id"]))["result"] == {"echo": {"word": "hi"}}
        with pytest.raises(TaskAlreadyFinishedError) as finished:
            await api.cancel(task["task_id"])
        assert finished.value.task_id == task["task_id"]
        batch = await api.bulk_enqueue(
            queue, [{"task_data": {"n": n}} for n in range(3)], max_concurrent=1
        )
        for task_id in batch["task_ids"]:
            assert (await api.wait(task_id, timeout=30))["status"] == "completed"
        listed = [t async for t in api.list_tasks(queue_name=queue, page_size=2)]
        assert len(listed) == 4  # three pages of two, one and none
        stats = await api.queue_stats(queue)
        assert stats["statistics"]["completed_tasks_today"] == 4
        assert (await api.health())["status"] in ("healthy", "degraded")
        with pytest.raises(InvalidTaskDataError) as invalid:
            await api.enqueue(queue, [1, 2])  # type: ignore[arg-type]
        assert invalid.value.field == "task_data"
        with pytest.raises(ValidationError):
            await api.enqueue(queue, {}, priority=0)
        with pytest.raises(TaskNotFoundError):
            await api.status("task_01m8pgjm3jdjpxpdxahy1hd4p3")
    async with TaskAPI(edge.url, token("other", "acme")) as other:
        with pytest.raises(ForbiddenError):
            await other.status(task["task_id"])
    async with TaskAPI(edge.url, "not-a-token") as anonymous:
        with pytest.raises(UnauthorizedError):
            await anonymous.list_page()


async def test_sync_sdk(edge: RunningEdge, queue: str) -> None:
    def use_it() -> None:
        with SyncTaskAPI(edge.url, token("sync", "acme")) as api:
            task = api.enqueue(queue, {"x": 1})
            with pytest.raises(TaskNotCompletedError) as waiting:
                api.result(task["task_id"])
            assert waiting.value.details["status"] == "enqueued"
            assert api.cancel(task["task_id"])["status"] == "cancelled"
            assert api.wait(task["task_id"], timeout=10)["status"] == "cancelled"
            assert [t["task_id"] for t in api.list_tasks(queue_name=queue)] == [task["task_id"]]

    await asyncio.to_thread(use_it)
