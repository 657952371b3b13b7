"""BaseTask / ProgressHandle: class-based handlers, run in a thread, cancelled cooperatively."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from pydantic import BaseModel

from prsm_tasks import BaseTask, Client, Node, ProgressHandle, TaskStatus
from prsm_tasks.bus import connect
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.store.types import TaskTypeStore
from tests.conftest import NodeFactory, eventually

# which thread ran each task, and which noticed its cancel (keyed by task id)
RAN_IN: dict[str, str] = {}
NOTICED_CANCEL: dict[str, threading.Event] = {}


class CountResult(BaseModel):
    counted: int
    label: str


class CountCancelled(BaseModel):
    status: str


class Count(BaseTask):
    """Counts slowly in a thread, reporting progress, until done or cancelled."""

    def execute(
        self, progress_handle: ProgressHandle, *, steps: int, delay_s: float = 0.0, label: str = ""
    ) -> CountResult | CountCancelled:
        task_id = self.context.task_id
        RAN_IN[task_id] = threading.current_thread().name
        progress_handle.send_progress_text("starting")
        for step in range(1, steps + 1):
            if self.is_cancelled:
                NOTICED_CANCEL.setdefault(task_id, threading.Event()).set()
                return CountCancelled(status="cancelled")
            time.sleep(delay_s)  # blocking on purpose: it must not stall the node's loop
            progress_handle.send_progress_value(step / steps)
        progress_handle.send_progress("done", 1.0)
        return CountResult(counted=steps, label=label)

    result_model = CountResult


class AsyncEcho(BaseTask):
    async def execute(self, progress_handle: ProgressHandle, **kwargs: Any) -> CountResult:
        await asyncio.sleep(0)
        progress_handle.send_progress("echo", 0.5)
        return CountResult(counted=len(kwargs), label=",".join(sorted(kwargs)))


def count_registry(queue: str) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register(Count, queue=queue, task_type="count")
    registry.register(AsyncEcho, queue=queue, task_type="echo")
    return registry


async def test_sync_basetask_runs_in_a_thread_and_returns_its_model(
    client: Client, start_node: NodeFactory, queue: str
) -> None:
    registry = count_registry(queue)
    spec = registry.lookup(queue, "count")
    assert spec is not None and spec.result_schema() == CountResult.model_json_schema()
    async with start_node(registry, queues=[queue]) as node:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        try:
            task = await client.enqueue(
                queue, {"steps": 20, "delay_s": 0.02, "label": "x"}, task_type="count"
            )
            final = await client.wait(task.task_id, timeout=30)
        finally:
            ticker.cancel()
        assert final.status is TaskStatus.COMPLETED
        assert final.result == {"counted": 20, "label": "x"}
        assert final.progress == 1.0 and final.progress_text == "done"
        assert RAN_IN[task.task_id].startswith("prsm-handler")
        assert ticks > 10  # the loop kept running while the thread slept
        events = [e async for e in client.events(task_id=task.task_id)]
        kinds = [e.event_type for e in events]
        assert kinds[0] == "task_enqueued" and kinds[1] == "task_started"
        assert kinds[-1] == "task_completed"
        progress = [e for e in events if e.event_type == "progress_update"]
        assert progress[0].data["text"] == "starting"
        assert progress[-1].data == {"text": "done", "value": 1.0}
        assert all(e.worker_node == node.node_id for e in events[1:])

        echo = await client.enqueue(queue, {"b": 1, "a": 2}, task_type="echo")
        echoed = await client.wait(echo.task_id, timeout=30)
        assert echoed.result == {"counted": 2, "label": "a,b"}

    # the result model's schema went to the task type registry with the node's start
    nc = await connect(client.servers, name="types-reader")
    try:
        published = await (await TaskTypeStore.open(nc.jetstream())).get("count")
    finally:
        await nc.close()
    assert published is not None
    assert published.result_schema == CountResult.model_json_schema()
    assert published.parameters_schema is not None
    assert set(published.parameters_schema["properties"]) == {"steps", "delay_s", "label"}


async def test_invalid_task_data_fails_without_running(
    client: Client, nats_url: str, queue: str
) -> None:
    node = Node(servers=nats_url, queues=[queue], grace_s=5.0)
    node.register(Count, queue=queue, task_type="count")  # the documented way
    async with node:
        task = await client.enqueue(queue, {"steps": "many"}, task_type="count")
        final = await client.wait(task.task_id, timeout=30)
    assert final.status is TaskStatus.FAILED
    assert final.error is not None and "steps" in final.error.message
    assert task.task_id not in RAN_IN


async def test_thread_basetask_cancels_cooperatively(
    client: Client, start_node: NodeFactory, queue: str
) -> None:
    async with start_node(count_registry(queue), queues=[queue], capacity=1) as node:
        task = await client.enqueue(queue, {"steps": 100_000, "delay_s": 0.01}, task_type="count")

        async def running_with_progress() -> bool:
            record = await client.status(task.task_id)
            return record.status is TaskStatus.PROCESSING and task.task_id in RAN_IN

        await eventually(running_with_progress)
        cancelled = await client.cancel(task.task_id)
        assert cancelled.status is TaskStatus.CANCELLED
        noticed = NOTICED_CANCEL.setdefault(task.task_id, threading.Event())
        await eventually(lambda: asyncio.sleep(0, noticed.is_set()))

        async def slot_free() -> bool:
            return node.in_flight == 0

        await eventually(slot_free)
        final = await client.status(task.task_id)
        assert final.status is TaskStatus.CANCELLED  # the late return did not overwrite it
        assert final.result is None
        kinds = [e.event_type async for e in client.events(task_id=task.task_id)]
        assert kinds[:2] == ["task_enqueued", "task_started"]
        assert kinds.count("task_cancelled") == 1 and "task_completed" not in kinds
