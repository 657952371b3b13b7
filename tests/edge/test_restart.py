"""Edges as `prsm-tasks edge` subprocesses: a later edge reads what an earlier one wrote, and
a restarted edge loses nothing (everything it serves comes from the task bucket)."""

from __future__ import annotations

import aiohttp

from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller, spawned_edge, token
from tests.edge.handlers import echo


async def snapshot(caller: Caller, queue: str) -> dict:
    listed = (await caller.get("/tasks", queue_name=queue)).body
    stats = (await caller.get(f"/queue/{queue}/stats")).body
    statuses = {
        task["task_id"]: (await caller.get(f"/status/{task['task_id']}")).body["status"]
        for task in listed["tasks"]
    }
    return {
        "tasks": [(t["task_id"], t["status"]) for t in listed["tasks"]],
        "summary": listed["summary"],
        "total": stats["statistics"]["total_tasks"],
        "pending": stats["statistics"]["pending_tasks"],
        "statuses": statuses,
    }


async def test_a_later_edge_and_a_restarted_edge_serve_the_same_state(
    nats_url: str, start_node: NodeFactory, queue: str, session: aiohttp.ClientSession
) -> None:
    idle_queue = queue + "-idle"  # served by nobody: its task stays enqueued
    env = {"PRSM_QUEUES": f"{queue},{idle_queue}"}
    bearer = token("alice", "acme")
    async with start_node({queue: echo}):
        with spawned_edge(nats_url, extra_env=env) as first_url:
            first = Caller(session, first_url, bearer)
            done = [
                (await first.post("/enqueue", {"queue_name": queue, "task_data": {"n": n}})).body[
                    "task_id"
                ]
                for n in range(3)
            ]
            waiting = await first.post("/enqueue", {"queue_name": idle_queue, "task_data": {}})
            assert waiting.status == 200

            async def finished() -> bool:
                states = [(await first.get(f"/status/{t}")).body["status"] for t in done]
                return states == ["completed"] * 3

            await eventually(finished)
            before = await snapshot(first, queue)
            assert before["total"] == 3 and len(before["tasks"]) == 3

            with spawned_edge(nats_url, extra_env=env) as second_url:
                second = Caller(session, second_url, bearer)
                assert await snapshot(second, queue) == before
                idle = (await second.get("/tasks", queue_name=idle_queue)).body
                assert [t["status"] for t in idle["tasks"]] == ["enqueued"]
                position = (await second.get(f"/queue/{idle_queue}/stats")).body
                assert position["statistics"]["pending_tasks"] == 1

        with spawned_edge(nats_url, extra_env=env) as restarted_url:
            restarted = Caller(session, restarted_url, bearer)
            assert await snapshot(restarted, queue) == before
            # and it keeps serving writes as before
            again = await restarted.post("/enqueue", {"queue_name": queue, "task_data": {}})
            assert again.status == 200
