"""A child's run held for its parent through a node's SIGKILL: it still runs, once."""

from __future__ import annotations

import signal
from collections.abc import Callable

from prsm_tasks import Client, Node
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.models import TaskStatus
from prsm_tasks.services.schedules.runs import run_task_id
from tests.conftest import eventually
from tests.e2e.handlers_for_tests import quick
from tests.e2e.test_reliability import handlers_for, spawn_node
from tests.edge.conftest import Caller
from tests.schedules.test_dependency_runs import (
    create,
    depend,
    final,
    owner_of,
    record_of,
    soon,
)
from tests.timers.test_kill import _node_up


async def test_a_held_run_survives_the_sigkill_of_the_node_that_held_it(
    edge: RunningEdge, as_user: Callable[..., Caller], queue: str, nats_url: str
) -> None:
    owner = owner_of(as_user)
    victim = spawn_node(nats_url, queue, name="victim", capacity=2, lease_s=2.0)
    try:
        async with Client(nats_url) as client:
            await eventually(lambda: _node_up(nats_url, "victim"), within_s=60)
            one_time = {"task_type": "one_time", "schedule_expression": None}
            parent_id = await create(
                owner, queue, "extract", **one_time, next_execution_time=soon(14)
            )
            child_id = await create(owner, queue, "report", **one_time, next_execution_time=soon(3))
            await depend(owner, child_id, parent_id, "success")

            async def held() -> bool:
                return bool((await record_of(edge, child_id)).held_runs)

            await eventually(held, within_s=60)  # the victim converted the child's fire
            held_due = (await record_of(edge, child_id)).held_runs[0].due_at
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)

            survivor = Node(
                servers=nats_url, handlers=handlers_for(queue, quick), name="survivor", lease_s=2.0
            )
            async with survivor:
                child_run = run_task_id(child_id, held_due)
                ended = await final(client, child_run)
                parent_runs = (await record_of(edge, parent_id)).recent_runs
                parent_ended = await final(client, parent_runs[0].task_id)
            child = await record_of(edge, child_id)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(30)
    assert ended.status is TaskStatus.COMPLETED and len(ended.attempts) == 1
    assert ended.attempts[0].node is not None and "survivor" in ended.attempts[0].node
    assert parent_ended.completed_at is not None and ended.started_at is not None
    assert ended.started_at >= parent_ended.completed_at
    assert child.held_runs == [] and [run.task_id for run in child.recent_runs] == [child_run]
