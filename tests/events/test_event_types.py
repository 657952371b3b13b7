"""Every event type is published where its transition happens, with the documented data."""

from __future__ import annotations

import asyncio

from prsm_tasks import Client, Fail, TaskContext, TaskStatus
from tests.conftest import NodeFactory, eventually


async def flaky(ctx: TaskContext, mode: str) -> str:
    if mode == "retry_once" and ctx.attempt == 1:
        raise RuntimeError("first attempt fails")
    if mode == "fail":
        raise Fail("no way")
    if mode == "slow":
        await asyncio.sleep(30)
    if mode == "wait_for_cancel":
        while True:
            await asyncio.sleep(0.02)
            ctx.raise_if_cancelled()
    return mode


async def test_every_event_type_with_its_data(
    client: Client, start_node: NodeFactory, queue: str
) -> None:
    async with start_node({queue: flaky}, queues=[queue]):
        retried = await client.enqueue(queue, {"mode": "retry_once"})
        failed = await client.enqueue(queue, {"mode": "fail"})
        timed_out = await client.enqueue(
            queue, {"mode": "slow"}, timeout_seconds=0.2, max_retries=0
        )
        cancelled = await client.enqueue(queue, {"mode": "wait_for_cancel"})

        async def running() -> bool:
            return (await client.status(cancelled.task_id)).status is TaskStatus.PROCESSING

        await eventually(running)
        await client.cancel(cancelled.task_id)
        for task in (retried, failed, timed_out):
            await client.wait(task.task_id, timeout=30)

    async def story(task_id: str) -> list[str]:
        return [e.event_type async for e in client.events(task_id=task_id)]

    assert await story(retried.task_id) == [
        "task_enqueued",
        "task_started",
        "task_retrying",
        "task_started",
        "task_completed",
    ]
    assert (await story(failed.task_id))[-1] == "task_failed"
    assert (await story(timed_out.task_id))[-1] == "task_timeout"
    assert (await story(cancelled.task_id))[-1] == "task_cancelled"
    events = [e async for e in client.events(task_id=failed.task_id)]
    assert events[-1].data == {"error": "no way", "error_type": "Fail"}
    retry_events = [e async for e in client.events(task_id=retried.task_id)]
    assert [e.attempt for e in retry_events] == [0, 1, 1, 2, 2]
    assert retry_events[2].data["error_type"] == "RuntimeError"
    # a third party's view: one queue, two types, replayed from the stream's start
    wanted = {retried.task_id, failed.task_id}
    finals: dict[str, str] = {}
    async with asyncio.timeout(30):
        async for event in client.events(
            queue=queue, event_types=["task_completed", "task_failed"], since=1
        ):
            assert event.event_type in ("task_completed", "task_failed")
            assert event.seq is not None and event.queue_name == queue
            if event.task_id in wanted:
                finals[event.task_id] = event.event_type
            if len(finals) == len(wanted):
                break
    assert finals == {retried.task_id: "task_completed", failed.task_id: "task_failed"}
