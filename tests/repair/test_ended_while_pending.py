"""A task ended before it started never starts: the task list's ``PUT status=completed`` or
``failed`` on a pending task, a cancel, a delete, a batch's fail_fast.

Its work message is still queued when it ends; the node that takes it must not run the
handler from that message's copy of the record (a short task starts before its claim is
written, see store/cancels.py), so every such ending leaves the task in the cancel memory.
"""

from __future__ import annotations

from typing import Any

from prsm_tasks import Client, TaskContext, wire
from prsm_tasks.models import BANDS_HIGH_TO_LOW
from tests.conftest import NodeFactory, eventually
from tests.edge.test_errors import assert_error
from tests.task_types.conftest import Caller, put, register


async def work_settled(client: Client, queue: str) -> bool:
    """Every work message of ``queue`` delivered and settled (nothing left to run)."""
    js = client._js
    assert js is not None
    for band in BANDS_HIGH_TO_LOW:
        info = await js.consumer_info(wire.WORK_STREAM, wire.work_consumer(queue, band))
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def test_tasks_ended_while_pending_never_run(
    alice: Caller, client: Client, type_name: str, start_node: NodeFactory
) -> None:
    registered = await register(alice, type_name)
    queue = registered["queue_name"]
    side_effects: list[str] = []

    async def handler(ctx: TaskContext, **parameters: Any) -> str:
        side_effects.append(ctx.task_id)  # e.g. an e-mail sent, a card charged
        return "ran"

    async def create() -> str:
        answer = await alice.post(
            "/api/tasks", {"task_type": type_name, "parameters": {"format": "mp4"}}
        )
        assert answer.status == 201, answer.body
        return str(answer.body["task_id"])

    completed, failed, cancelled, deleted, control = [await create() for _ in range(5)]
    done = await put(alice, f"/api/tasks/{completed}", {"status": "completed", "result": 1})
    assert done.status == 200 and done.body["status"] == "completed", done.body
    gave_up = await put(alice, f"/api/tasks/{failed}", {"status": "failed"})
    assert gave_up.status == 200 and gave_up.body["status"] == "failed", gave_up.body
    stopped = await put(alice, f"/api/tasks/{cancelled}", {"status": "cancelled"})
    assert stopped.status == 200 and stopped.body["status"] == "cancelled", stopped.body
    assert (await alice.delete(f"/api/tasks/{deleted}")).status == 204

    async with start_node({queue: handler}):  # claims late: starts short tasks unclaimed

        async def control_done() -> bool:
            answer = await alice.get(f"/api/tasks/{control}")
            return bool(answer.body["status"] == "completed")

        await eventually(control_done)
        await eventually(lambda: work_settled(client, queue))

    assert side_effects == [control]  # only the task nobody ended ran
    for task_id, status in ((completed, "completed"), (failed, "failed")):
        assert (await alice.get(f"/api/tasks/{task_id}")).body["status"] == status
    assert (await alice.get(f"/api/tasks/{cancelled}")).body["status"] == "cancelled"
    assert_error(await alice.get(f"/api/tasks/{deleted}"), 404, "task_not_found")
