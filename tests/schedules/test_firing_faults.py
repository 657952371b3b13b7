"""Schedules' fires through faults: a node SIGKILLed holding a fire, and every node down
while due times pass (the misfire policies)."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prsm_tasks import Client, Node
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.surfaces.scheduler.state import SCHEDULES
from prsm_tasks.models import TaskStatus
from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.services.schedules.runs import run_task_id
from tests.conftest import NodeFactory, eventually
from tests.e2e.handlers_for_tests import quick
from tests.e2e.test_reliability import handlers_for, spawn_node
from tests.edge.conftest import Caller
from tests.schedules.conftest import API
from tests.timers.test_kill import _node_up


def owner_of(as_user: Callable[..., Caller]) -> Caller:
    return as_user("owner", f"t-{uuid.uuid4().hex[:8]}")


async def create(caller: Caller, body: dict[str, Any]) -> str:
    answer = await caller.post(f"{API}/tasks", body)
    assert answer.status == 201, answer.body
    return str(answer.body["task_id"])


async def record_of(edge: RunningEdge, schedule_id: str) -> ScheduleRecord:
    return (await edge.app[SCHEDULES].store.get(schedule_id))[0]


async def test_a_node_killed_holding_a_fire_leaves_one_run(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str, nats_url: str
) -> None:
    owner = owner_of(as_user)
    victim = spawn_node(nats_url, queue, name="victim", capacity=2, lease_s=2.0)
    try:
        async with Client(nats_url) as client:
            await eventually(lambda: _node_up(nats_url, "victim"), within_s=60)
            due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
            schedule_id = await create(
                owner,
                {
                    "task_name": "once",
                    "task_type": "one_time",
                    "next_execution_time": due.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "queue_name": queue,
                },
            )
            # frozen just before the due time: its parked pull may take the fire and never
            # acknowledge it; then killed
            await asyncio.sleep(max(0.0, due.timestamp() - time.time() - 0.3))
            victim.send_signal(signal.SIGSTOP)
            await asyncio.sleep(1.0)
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
            survivor = Node(
                servers=nats_url, handlers=handlers_for(queue, quick), name="survivor", lease_s=2.0
            )
            async with survivor:

                async def completed() -> bool:
                    return (await record_of(edge, schedule_id)).status == "completed"

                await eventually(completed, within_s=120)
                run_id = run_task_id(schedule_id, due.timestamp())
                final = await client.wait(run_id, timeout=120)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert final.status is TaskStatus.COMPLETED
    record = await record_of(edge, schedule_id)
    assert [run.task_id for run in record.recent_runs] == [run_id]


async def outage(
    edge: RunningEdge,
    owner: Caller,
    queue: str,
    start_node: NodeFactory,
    **fields: Any,
) -> tuple[float, ScheduleRecord]:
    """An interval schedule of 1 s created with no node up, left ~5 s, then one node
    started until a first conversion; the schedule's first due time and its record."""
    body = {"task_name": "tick", "task_type": "interval", "schedule_expression": "1"}
    schedule_id = await create(owner, {**body, "queue_name": queue, **fields})
    first_due = (await record_of(edge, schedule_id)).next_due_at
    assert first_due is not None
    await asyncio.sleep(max(0.0, first_due + 5.0 - time.time()))
    async with start_node(handlers_for(queue, quick)):

        async def converted() -> bool:
            return bool((await record_of(edge, schedule_id)).recent_runs)

        await eventually(converted, within_s=60)
        await owner.post(f"{API}/tasks/{schedule_id}/pause")
    return first_due, await record_of(edge, schedule_id)


async def test_run_once_after_an_outage_makes_one_run_for_the_missed_times(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str, start_node: NodeFactory
) -> None:
    first_due, record = await outage(
        edge, owner_of(as_user), queue, start_node, misfire_policy="run_once"
    )
    first = record.recent_runs[0]
    assert first.due_at >= first_due + 4  # the missed ones collapsed into the latest
    dues = [run.due_at for run in record.recent_runs]
    assert dues == sorted(set(dues))


async def test_backfill_after_an_outage_runs_the_latest_missed_times(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str, start_node: NodeFactory
) -> None:
    first_due, record = await outage(
        edge, owner_of(as_user), queue, start_node, misfire_policy="backfill", backfill_limit=3
    )
    head = [run.due_at for run in record.recent_runs[:3]]
    assert len(head) == 3 and head[1] - head[0] == 1 and head[2] - head[1] == 1
    assert head[0] >= first_due + 2  # the older missed times beyond the limit were dropped


async def test_skip_after_an_outage_runs_only_the_latest_within_grace(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str, start_node: NodeFactory
) -> None:
    first_due, record = await outage(
        edge, owner_of(as_user), queue, start_node, misfire_policy="skip"
    )
    # the 60 s grace covers a 5 s outage: the latest missed time runs, none of the older
    assert record.recent_runs[0].due_at >= first_due + 4
