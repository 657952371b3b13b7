"""Trace context end to end: given or started at enqueue, stored, a child span per attempt
in ``ctx.trace``, carried into the tasks a handler enqueues."""

from __future__ import annotations

from typing import Any

from prsm_tasks import Client, TaskContext
from prsm_tasks.trace import parse
from tests.conftest import NodeFactory

GIVEN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_the_handler_runs_in_a_child_span_and_passes_it_on(
    client: Client, start_node: NodeFactory, nats_url: str, queue: str
) -> None:
    seen: dict[str, Any] = {}

    async def parent(ctx: TaskContext) -> str:
        assert ctx.trace is not None
        seen["parent"] = ctx.trace
        child = await client.enqueue(f"{queue}-child", {}, trace=ctx.trace)
        return child.task_id

    async def child(ctx: TaskContext) -> None:
        seen["child"] = ctx.trace

    async with start_node(
        {queue: parent, f"{queue}-child": child}, queues=[queue, f"{queue}-child"]
    ):
        task = await client.enqueue(queue, {}, trace=GIVEN)
        assert task.trace == GIVEN
        done = await client.wait(task.task_id, timeout=60)
        assert done.status == "completed" and done.trace == GIVEN
        child_done = await client.wait(done.result, timeout=60)
    attempt_span = seen["parent"]
    assert attempt_span.trace_id == GIVEN[3:35] and attempt_span.span_id != GIVEN[36:52]
    # the child task is stored under the parent attempt's span, and runs in a span of its own
    assert child_done.trace == attempt_span.traceparent
    assert seen["child"].trace_id == attempt_span.trace_id
    assert seen["child"].span_id != attempt_span.span_id


async def test_without_a_trace_one_is_started(client: Client, queue: str) -> None:
    first = await client.enqueue(queue, {})
    second = await client.enqueue(queue, {})
    started = [parse(first.trace), parse(second.trace)]
    assert all(started) and started[0].trace_id != started[1].trace_id
