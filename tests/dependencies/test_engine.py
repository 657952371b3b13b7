"""Dependencies between one-off tasks in the engine: real nats-server, real nodes, the
native client (docs/architecture.md, "Dependencies")."""

from __future__ import annotations

import asyncio

import pytest

from prsm_tasks import Client, GraphNode, TaskContext
from prsm_tasks.errors import (
    DependencyCycleError,
    ParentTaskNotFoundError,
    ValidationError,
)
from prsm_tasks.models import TaskDependency, TaskStatus
from prsm_tasks.store.graph import DEPENDENCY_FAILED
from tests.conftest import NodeFactory, eventually


class Order:
    """A handler that notes the order tasks ran in (by their ``name``)."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.gate = asyncio.Event()

    async def run(
        self, ctx: TaskContext, name: str = "", hold: bool = False, fail: bool = False
    ) -> str:
        self.ran.append(name)
        if hold:
            await self.gate.wait()
        if fail:
            raise RuntimeError(f"{name} fails")
        return name


async def status_of(client: Client, task_id: str) -> TaskStatus:
    return (await client.status(task_id)).status


async def becomes(client: Client, task_id: str, status: TaskStatus, within_s: float = 30) -> None:
    async def check() -> bool:
        return await status_of(client, task_id) is status

    await eventually(check, within_s=within_s)


async def test_a_child_waits_until_its_success_parent_completes(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    order = Order()
    parent = await client.enqueue(queue, {"name": "parent"})
    child = await client.enqueue(queue, {"name": "child"}, depends_on=[parent.task_id])
    assert child.status is TaskStatus.WAITING
    assert child.depends_on == [TaskDependency(task_id=parent.task_id, type="success")]
    assert (await client.status(parent.task_id)).dependents == [child.task_id]
    async with start_node({queue: order.run}):
        final = await client.wait(child.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED
    assert order.ran == ["parent", "child"]


async def test_completion_child_runs_after_a_failed_parent(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    order = Order()
    async with start_node({queue: order.run}):
        parent = await client.enqueue(queue, {"name": "parent", "fail": True}, max_retries=0)
        child = await client.enqueue(
            queue, {"name": "child"}, depends_on=[(parent.task_id, "completion")]
        )
        final = await client.wait(child.task_id, timeout=30)
    assert (await client.status(parent.task_id)).status is TaskStatus.FAILED
    assert final.status is TaskStatus.COMPLETED


async def test_any_child_is_released_when_its_parent_starts(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    order = Order()
    parent = await client.enqueue(queue, {"name": "parent", "hold": True})
    child = await client.enqueue(queue, {"name": "child"}, depends_on=[(parent.task_id, "any")])
    async with start_node({queue: order.run}, capacity=2):
        final = await client.wait(child.task_id, timeout=30)
        assert final.status is TaskStatus.COMPLETED
        assert await status_of(client, parent.task_id) is TaskStatus.PROCESSING
        order.gate.set()
        await client.wait(parent.task_id, timeout=30)


async def test_a_failed_success_parent_fails_the_child(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    order = Order()
    async with start_node({queue: order.run}):
        parent = await client.enqueue(queue, {"name": "parent", "fail": True}, max_retries=0)
        child = await client.enqueue(queue, {"name": "child"}, depends_on=[parent.task_id])
        final = await client.wait(child.task_id, timeout=30)
    assert final.status is TaskStatus.FAILED
    assert final.error is not None and final.error.type == DEPENDENCY_FAILED
    assert parent.task_id in final.error.message
    assert "child" not in order.ran


async def test_cancelling_a_parent_cascades_through_two_levels(client: Client, queue: str) -> None:
    parent = await client.enqueue(queue, {"name": "parent"})
    child = await client.enqueue(queue, {"name": "child"}, depends_on=[parent.task_id])
    grandchild = await client.enqueue(queue, {"name": "gc"}, depends_on=[child.task_id])
    later = await client.enqueue(
        queue, {"name": "later"}, depends_on=[(child.task_id, "completion")]
    )
    await client.cancel(parent.task_id)
    for task_id, cause in ((child.task_id, parent.task_id), (grandchild.task_id, child.task_id)):
        await becomes(client, task_id, TaskStatus.CANCELLED)
        record = await client.status(task_id)
        assert record.error is not None and cause in record.error.message
        assert "cascade" in record.error.message
    # a completion child of a cancelled task is met: it is let go
    await becomes(client, later.task_id, TaskStatus.ENQUEUED)


async def test_a_parent_already_final_evaluates_the_child_at_once(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    order = Order()
    async with start_node({queue: order.run}):
        parent = await client.enqueue(queue, {"name": "parent"})
        await client.wait(parent.task_id, timeout=30)
        child = await client.enqueue(queue, {"name": "child"}, depends_on=[parent.task_id])
        final = await client.wait(child.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED
    # a final parent is not written again: the child was decided from the read
    assert (await client.status(parent.task_id)).dependents == []


async def test_bad_parents_are_refused_and_write_nothing(client: Client, queue: str) -> None:
    parent = await client.enqueue(queue, {})
    missing = "task_" + "0" * 26
    with pytest.raises(ParentTaskNotFoundError) as refused:
        await client.enqueue(queue, {}, depends_on=[parent.task_id, missing])
    assert refused.value.field == "depends_on[1].task_id"
    with pytest.raises(ValidationError) as twice:
        await client.enqueue(queue, {}, depends_on=[parent.task_id, parent.task_id])
    assert twice.value.field == "depends_on[1].task_id"
    with pytest.raises(ValidationError):
        await client.enqueue(queue, {}, depends_on=[(parent.task_id, "sometimes")])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        await client.enqueue(queue, {}, depends_on=[f"task_{i:026d}" for i in range(33)])
    assert (await client.status(parent.task_id)).dependents == []


async def test_another_tenants_parent_is_not_found(
    nats_url: str, client: Client, queue: str
) -> None:
    async with Client(nats_url, tenant="acme") as acme, Client(nats_url, tenant="other") as other:
        parent = await acme.enqueue(queue, {})
        with pytest.raises(ParentTaskNotFoundError):
            await other.enqueue(queue, {}, depends_on=[parent.task_id])
        with pytest.raises(ParentTaskNotFoundError):
            await client.enqueue(queue, {}, depends_on=[parent.task_id])
        assert (await acme.status(parent.task_id)).dependents == []


async def test_a_diamond_graph_runs_in_order(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    order = Order()
    ids = await client.enqueue_graph(
        [
            GraphNode("d", queue, {"name": "d"}, depends_on=["b", "c"]),
            GraphNode("b", queue, {"name": "b"}, depends_on=["a"]),
            GraphNode("c", queue, {"name": "c"}, depends_on=["a"]),
            GraphNode("a", queue, {"name": "a"}),
        ]
    )
    assert set(ids) == {"a", "b", "c", "d"}
    async with start_node({queue: order.run}, capacity=4):
        final = await client.wait(ids["d"], timeout=30)
    assert final.status is TaskStatus.COMPLETED
    assert order.ran[0] == "a" and order.ran[-1] == "d" and sorted(order.ran[1:3]) == ["b", "c"]


async def test_a_refused_graph_writes_nothing(client: Client, queue: str) -> None:
    outside = await client.enqueue(queue, {})
    cycle = [
        GraphNode("a", queue, {}, depends_on=[outside.task_id]),
        GraphNode("b", queue, {}, depends_on=["a", "c"]),
        GraphNode("c", queue, {}, depends_on=["b"]),
    ]
    with pytest.raises(DependencyCycleError):
        await client.enqueue_graph(cycle)
    unknown = [
        GraphNode("a", queue, {}, depends_on=[outside.task_id]),
        GraphNode("b", queue, {}, depends_on=["task_" + "1" * 26]),
    ]
    with pytest.raises(ParentTaskNotFoundError) as refused:
        await client.enqueue_graph(unknown)
    assert refused.value.field == "nodes[1].depends_on[0].task_id"
    bad_data = [
        GraphNode("a", queue, {}, depends_on=[outside.task_id]),
        GraphNode("b", queue, {"x": object()}),
    ]
    with pytest.raises(ValidationError):
        await client.enqueue_graph(bad_data)
    # nothing was written: the outside parent names no child
    assert (await client.status(outside.task_id)).dependents == []


async def test_a_waiting_child_cancelled_never_runs(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    order = Order()
    parent = await client.enqueue(queue, {"name": "parent"})
    child = await client.enqueue(queue, {"name": "child"}, depends_on=[parent.task_id])
    await client.cancel(child.task_id)
    async with start_node({queue: order.run}):
        await client.wait(parent.task_id, timeout=30)
    assert order.ran == ["parent"]
    assert await status_of(client, child.task_id) is TaskStatus.CANCELLED
