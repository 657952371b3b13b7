"""Progress coalescing: a storm of reports becomes a few events and records, nothing lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from nats.aio.msg import Msg

from prsm_tasks import BaseTask, Client, ProgressHandle, TaskContext, TaskStatus
from prsm_tasks.bus import connect
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.messages import TaskEvent
from tests.conftest import NodeFactory

STORM_REPORTS = 20_000
PHASES = ("loading", "crunching", "writing", "checking", "saving")


class Storm(BaseTask):
    """Reports 20,000 times as fast as a thread can, with a text change per phase."""

    def execute(self, progress_handle: ProgressHandle, **kwargs: Any) -> dict[str, int]:
        per_phase = STORM_REPORTS // len(PHASES)
        for index, phase in enumerate(PHASES):
            progress_handle.send_progress_text(phase)
            for step in range(per_phase):
                done = index * per_phase + step + 1
                progress_handle.send_progress_value(done / STORM_REPORTS)
        return {"reports": STORM_REPORTS}


async def async_storm(ctx: TaskContext) -> str:
    for step in range(1, STORM_REPORTS + 1):
        ctx.progress(step / STORM_REPORTS * 0.9)
        if step % 500 == 0:
            await asyncio.sleep(0)
    # a text with a value, then the final value at once: the 1.0 must not be swallowed
    await ctx.progress(0.95, "finishing")
    await ctx.progress(1.0)
    return "ok"


def progress_of(events: list[TaskEvent]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.event_type == "progress_update"]


async def run_storm(
    client: Client, start_node: NodeFactory, nats_url: str, queue: str, registry: HandlerRegistry
) -> tuple[list[TaskEvent], int, float]:
    writes: Counter[str] = Counter()

    async def count_write(msg: Msg) -> None:
        writes[msg.subject.rsplit(".", 1)[-1]] += 1

    watcher = await connect(nats_url, name="kv-write-counter")
    try:
        await watcher.subscribe("$KV.PRSM_TASKS.>", cb=count_write)
        async with start_node(registry, queues=[queue]):
            task = await client.enqueue(queue, {})
            final = await client.wait(task.task_id, timeout=60)
        await watcher.flush()
    finally:
        await watcher.close()
    assert final.status is TaskStatus.COMPLETED, final.error
    events = [e async for e in client.events(task_id=task.task_id)]
    return events, writes[task.task_id], final.progress


async def test_thread_progress_storm_is_coalesced(
    client: Client, start_node: NodeFactory, nats_url: str, queue: str
) -> None:
    registry = HandlerRegistry()
    registry.register(Storm, queue=queue)
    events, record_writes, record_progress = await run_storm(
        client, start_node, nats_url, queue, registry
    )
    kinds = [e.event_type for e in events]
    assert kinds[:2] == ["task_enqueued", "task_started"] and kinds[-1] == "task_completed"
    assert set(kinds[2:-1]) == {"progress_update"}  # all progress between started and done
    progress = progress_of(events)
    assert len(progress) < 300, f"{len(progress)} progress events for {STORM_REPORTS} reports"
    texts = [data["text"] for data in progress]
    assert [t for i, t in enumerate(texts) if i == 0 or texts[i - 1] != t] == list(PHASES)
    assert progress[-1] == {"text": "saving", "value": 1.0}
    values = [data["value"] for data in progress if data["value"] is not None]
    assert values == sorted(values)
    assert record_writes < 40, f"{record_writes} writes of the task record"
    assert record_progress == 1.0


async def test_async_progress_storm_keeps_the_final_value(
    client: Client, start_node: NodeFactory, nats_url: str, queue: str
) -> None:
    registry = HandlerRegistry()
    registry.register(async_storm, queue=queue)
    events, record_writes, record_progress = await run_storm(
        client, start_node, nats_url, queue, registry
    )
    progress = progress_of(events)
    assert len(progress) < 300
    assert {"text": "finishing", "value": 0.95} in progress
    assert progress[-1] == {"text": "finishing", "value": 1.0}
    assert events[-1].event_type == "task_completed"
    assert record_writes < 40
    assert record_progress == 1.0


TEXT_STORM_REPORTS = 3_000


async def text_storm(ctx: TaskContext) -> str:
    """A new text on every report: each would be its own event, without the cap."""
    for step in range(1, TEXT_STORM_REPORTS + 1):
        ctx.progress(step / TEXT_STORM_REPORTS, f"step {step}/{TEXT_STORM_REPORTS}")
        if step % 100 == 0:
            await asyncio.sleep(0)
    return "ok"


async def test_progress_events_of_a_task_are_capped(
    client: Client, start_node: NodeFactory, nats_url: str, queue: str
) -> None:
    registry = HandlerRegistry()
    registry.register(text_storm, queue=queue)
    events, _, record_progress = await run_storm(client, start_node, nats_url, queue, registry)
    progress = progress_of(events)
    cap = 1_000  # PRSM_PROGRESS_MAX_EVENTS
    # the cap, then at most one per new whole percent, then the last word before the outcome
    assert cap < len(progress) <= cap + 101 + 1, len(progress)
    assert all("coalesced" not in data for data in progress[:cap])
    after_cap = progress[cap:]
    assert all(data["coalesced"] >= 1 for data in after_cap)
    last = f"step {TEXT_STORM_REPORTS}/{TEXT_STORM_REPORTS}"
    assert progress[-1]["text"] == last and progress[-1]["value"] == 1.0
    # every report is an event below the cap, or counted in one after it
    assert cap + sum(data["coalesced"] for data in after_cap) == TEXT_STORM_REPORTS
    assert events[-1].event_type == "task_completed"
    assert record_progress == 1.0


async def text_storm_then_fail_once(ctx: TaskContext) -> str:
    await text_storm(ctx)
    if ctx.attempt == 1:
        raise RuntimeError("first attempt fails after its storm")
    return "ok"


async def test_the_progress_cap_counts_every_attempt_of_the_task(
    client: Client, start_node: NodeFactory, nats_url: str, queue: str
) -> None:
    registry = HandlerRegistry()
    registry.register(text_storm_then_fail_once, queue=queue)
    events, _, _ = await run_storm(client, start_node, nats_url, queue, registry)
    assert [e.event_type for e in events].count("task_retrying") == 1
    progress = progress_of(events)
    cap = 1_000
    # the cap once for the task, then per attempt one per new whole percent and a last one
    assert len(progress) <= cap + 2 * (101 + 1), len(progress)
    second = [e.data for e in events if e.event_type == "progress_update" and e.attempt == 2]
    assert second and all("coalesced" in data for data in second)
    assert second[-1]["value"] == 1.0
    record = await client.status(events[0].task_id)
    assert [a.progress_events for a in record.attempts] == [
        sum(1 for e in events if e.event_type == "progress_update" and e.attempt == n)
        for n in (1, 2)
    ]
