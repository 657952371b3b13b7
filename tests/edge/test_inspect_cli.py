"""`prsm-tasks status | cancel | tasks | queues | nodes` as a user runs them: subprocesses
against a real nats-server and a real edge, as JSON, as tables, and on a tmux terminal."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from collections.abc import Awaitable
from typing import Any

import pytest

from prsm_tasks import Client, TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller, token

CLI = [sys.executable, "-m", "prsm_tasks.cli"]
UNKNOWN_TASK = "task_" + "0" * 26


async def a_few_at_once(*calls: Awaitable[Any], at_once: int = 3) -> list[Any]:
    """Independent CLI runs, ``at_once`` at a time: each start costs seconds of CPU, and the
    machine is shared."""
    limit = asyncio.Semaphore(at_once)

    async def limited(call: Awaitable[Any]) -> Any:
        async with limit:
            return await call

    return await asyncio.gather(*(limited(call) for call in calls))


async def run_cli(*args: str, timeout_s: float = 240.0) -> tuple[int, str, str]:
    # a wide "terminal" for the tables a pipe gets; rich reads COLUMNS
    env = {**os.environ, "PRSM_LOG_LEVEL": "warning", "COLUMNS": "200"}
    env.pop("PRSM_SERVERS", None)
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    async with asyncio.timeout(timeout_s):
        output, errors = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(), errors.decode()


async def as_json(*args: str) -> Any:
    code, output, errors = await run_cli(*args, "--json")
    assert code == 0, output + errors
    return json.loads(output)


async def quick(ctx: TaskContext, n: int = 0) -> dict[str, str]:
    return {"done": "yes"}


async def slow(ctx: TaskContext, n: int = 0) -> None:
    await ctx.progress(0.5, "half way")
    await asyncio.sleep(120)  # until cancelled


@pytest.mark.timeout(900)  # a dozen CLI starts on a busy 2-core machine
async def test_inspection_over_nats(
    client: Client, start_node: NodeFactory, nats_url: str, queue: str
) -> None:
    nats = ("--servers", nats_url)
    async with start_node({queue: quick, f"{queue}-slow": slow}, queues=[queue, f"{queue}-slow"]):
        done = await client.enqueue(queue, {"n": 1})
        running = await client.enqueue(f"{queue}-slow", {"n": 2}, priority=9)
        assert (await client.wait(done.task_id, timeout=60)).status == "completed"

        async def started() -> bool:
            return (await client.status(running.task_id)).status == "processing"

        await eventually(started, within_s=60)

        # independent reads, at once: each CLI start costs seconds on a busy machine
        (
            shown,
            (code_status, status_table, _),
            listed,
            (code_tasks, tasks_table, _),
            (slow_row,),
            (row,),
            (code_queues, queues_table, _),
            nodes,
            (code_nodes, nodes_table, _),
        ) = await a_few_at_once(
            as_json("status", done.task_id, *nats),
            run_cli("status", running.task_id, *nats),
            as_json("tasks", "--queue", queue, *nats),
            run_cli("tasks", "--queue", queue, *nats),
            as_json("queues", "--queue", f"{queue}-slow", *nats),
            as_json("queues", "--queue", queue, *nats),
            run_cli("queues", "--queue", queue, *nats),
            as_json("nodes", *nats),
            run_cli("nodes", *nats),
        )
        assert shown["status"] == "completed" and shown["result"] == {"done": "yes"}
        assert code_status == 0 and running.task_id in status_table
        assert "processing" in status_table and "half way" in status_table
        assert [row["task_id"] for row in listed] == [done.task_id]
        assert code_tasks == 0 and done.task_id in tasks_table and "completed" in tasks_table
        assert slow_row["running"] == 1 and slow_row["nodes_serving"] == 1
        assert slow_row["depth"] == 0 and row["completed_last_hour"] == 1
        assert code_queues == 0 and queue in queues_table
        mine = [node for node in nodes if queue in node["queues"]]
        assert len(mine) == 1 and mine[0]["capacity"] >= 1 and not mine[0]["silent"]
        assert code_nodes == 0 and mine[0]["node_id"] in nodes_table

        cancelled = await as_json("cancel", running.task_id, *nats)
        assert cancelled["status"] == "cancelled"
        assert (await client.status(running.task_id)).status == "cancelled"
        code, output, errors = await run_cli("cancel", running.task_id, *nats)
        assert code == 1 and output == "" and len(errors.strip().splitlines()) == 1

    code, output, errors = await run_cli("status", UNKNOWN_TASK, *nats)
    assert code == 1 and output == ""
    assert errors.strip().splitlines() == [errors.strip()] and "task_not_found" in errors


@pytest.mark.timeout(900)
async def test_inspection_through_an_edge(
    edge: RunningEdge, alice: Caller, start_node: NodeFactory, queue: str
) -> None:
    via = ("--edge", edge.url, "--token", token("alice", "acme"))
    async with start_node({queue: quick}, queues=[queue]):
        answer = await alice.post("/enqueue", {"queue_name": queue, "task_data": {"n": 1}})
        assert answer.status == 200, answer.body
        task_id = answer.body["task_id"]

        async def finished() -> bool:
            return (await alice.get(f"/status/{task_id}")).body["status"] == "completed"

        await eventually(finished, within_s=60)

        admin = ("--edge", edge.url, "--token", token("root", "acme", roles=("admin",)))
        bob = ("--edge", edge.url, "--token", token("bob", "other"))
        (
            shown,
            (code_status, status_table, _),
            listed,
            (code_tasks, tasks_table, _),
            (row,),
            (code_queues, queues_table, _),
            (code_refused, refused_out, refused_err),
            nodes,
            (code_nodes, nodes_table, _),
            (code_bob, _, bob_err),
            (bob_row,),
        ) = await a_few_at_once(
            as_json("status", task_id, *via),
            run_cli("status", task_id, *via),
            as_json("tasks", "--queue", queue, "--limit", "5", *via),
            run_cli("tasks", "--queue", queue, *via),
            as_json("queues", "--queue", queue, *via),
            run_cli("queues", *via),
            run_cli("nodes", *via),
            as_json("nodes", *admin),
            run_cli("nodes", *admin),
            run_cli("status", task_id, *bob),
            as_json("queues", "--queue", queue, *bob),
        )
        assert shown["status"] == "completed"
        assert code_status == 0 and task_id in status_table and "completed" in status_table
        assert [row["task_id"] for row in listed] == [task_id]
        assert code_tasks == 0 and task_id in tasks_table
        assert row["completed_last_hour"] == 1 and row["nodes_serving"] == 1
        assert code_queues == 0 and queue in queues_table
        # the nodes are the operator's: a plain user is refused, an admin sees them
        assert code_refused == 1 and refused_out == "" and "forbidden" in refused_err
        assert any(queue in node["queues"] for node in nodes)
        assert code_nodes == 0 and "capacity" in nodes_table
        # another tenant does not see acme's task, nor its queue's figures
        assert code_bob == 1 and "task_not_found" in bob_err
        assert bob_row["completed_last_hour"] == 0

    code, _, errors = await run_cli("cancel", UNKNOWN_TASK, *via)
    assert code == 1 and "task_not_found" in errors


async def tmux(*args: str, check: bool = True) -> str:
    process = await asyncio.create_subprocess_exec(
        "tmux", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(30):
        output, errors = await process.communicate()
    assert not check or process.returncode == 0, errors.decode()
    return output.decode()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.timeout(600)
async def test_tables_on_a_real_terminal(
    client: Client, start_node: NodeFactory, nats_url: str, queue: str
) -> None:
    session = f"prsm-{uuid.uuid4().hex[:8]}"
    socket = ("-L", session)  # a tmux server of this test's own
    async with start_node({queue: quick}, queues=[queue]):
        done = await client.enqueue(queue, {"n": 1}, priority=9)
        await client.wait(done.task_id, timeout=60)
        command = " ; ".join(
            f"{sys.executable} -m prsm_tasks.cli {args} --servers {nats_url}"
            for args in (f"queues --queue {queue}", "nodes", f"tasks --queue {queue}")
        )
        await tmux(*socket, "new-session", "-d", "-s", session, "-x", "160", "-y", "50")
        try:
            await tmux(
                *socket, "send-keys", "-t", session, f"clear; {command}; echo ALL-DONE", "Enter"
            )
            screen = ""

            async def shown() -> bool:
                nonlocal screen
                screen = await tmux(*socket, "capture-pane", "-p", "-t", session)
                # a line of its own: the typed command may wrap, splitting "echo ALL-DONE"
                return any(line.strip() == "ALL-DONE" for line in screen.splitlines())

            await eventually(shown, within_s=300, interval_s=0.3)
        finally:
            await tmux(*socket, "kill-server", check=False)
    lines = screen.splitlines()
    assert any(line.startswith("queues") for line in lines), screen
    assert any(queue in line and "0/0/0/0" in line for line in lines), screen  # bands
    assert any("SILENT" not in line and "s ago" in line for line in lines), screen
    assert any(done.task_id in line and "completed" in line for line in lines), screen
