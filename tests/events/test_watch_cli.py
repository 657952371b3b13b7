"""`prsm-tasks watch` and `enqueue --watch` as a user runs them: subprocesses, exit codes."""

from __future__ import annotations

import asyncio
import os
import sys

from prsm_tasks import Client, Fail, TaskContext
from tests.conftest import NodeFactory

CLI = [sys.executable, "-m", "prsm_tasks.cli"]


async def run_cli(*args: str, timeout_s: float = 60.0) -> tuple[int, str]:
    env = {**os.environ, "PRSM_LOG_LEVEL": "warning"}
    env.pop("PRSM_SERVERS", None)
    process = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    async with asyncio.timeout(timeout_s):
        output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def steps(ctx: TaskContext, count: int = 3, fail: bool = False) -> dict[str, int]:
    for step in range(1, count + 1):
        await asyncio.sleep(0.05)
        await ctx.progress(step / count, f"step {step}/{count}")
        ctx.logger.info("did step %d", step)
    if fail:
        raise Fail("told to fail")
    return {"steps": count}


async def test_watch_exit_codes_over_nats(
    client: Client, start_node: NodeFactory, nats_url: str, queue: str
) -> None:
    async with start_node({queue: steps}, queues=[queue]):
        good = await client.enqueue(queue, {"count": 5})
        bad = await client.enqueue(queue, {"count": 2, "fail": True}, max_retries=0)
        # watched while running, and (the failing one) possibly after it ended: both work
        (good_code, good_out), (bad_code, bad_out) = await asyncio.gather(
            run_cli("watch", good.task_id, "--servers", nats_url),
            run_cli("watch", bad.task_id, "--servers", nats_url),
        )
    assert good_code == 0, good_out
    assert "step 5/5" in good_out and f"{good.task_id} completed" in good_out
    assert "attempt=1 INFO did step 5" in good_out  # the handler's log, live
    assert bad_code == 1, bad_out
    assert "told to fail" in bad_out and f"{bad.task_id} failed" in bad_out


async def test_enqueue_watch_from_the_shell(
    start_node: NodeFactory, nats_url: str, queue: str
) -> None:
    async with start_node({queue: steps}, queues=[queue]):
        code, output = await run_cli(
            "enqueue", queue, '{"count": 2}', "--priority", "9", "--watch", "--servers", nats_url
        )
    assert code == 0, output
    task_id = output.splitlines()[0].strip()
    assert task_id.startswith("task_")
    assert "task_started" in output and f"{task_id} completed" in output
