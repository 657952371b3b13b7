"""A persistent job for node subprocesses (queue from PRSM_TEST_QUEUE): ``steps`` steps, each
written to the ``log`` file (the side effect a redone step would repeat), then checkpointed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import prsm_tasks
from prsm_tasks import TaskContext

QUEUE = os.environ.get("PRSM_TEST_QUEUE", "e2e_queue")


@prsm_tasks.handler(QUEUE)
async def long_job(ctx: TaskContext, steps: int, delay_s: float, log: str) -> dict[str, object]:
    done = (ctx.checkpoint_state or {}).get("done", 0)
    while done < steps:
        await asyncio.sleep(delay_s)
        done += 1
        record_step(Path(log), f"{ctx.node_id} {done}\n")
        await ctx.checkpoint({"done": done}, summary=f"{done}/{steps}")
    return {"node": ctx.node_id, "attempt": ctx.attempt, "done": done}


def record_step(log: Path, line: str) -> None:
    """The step's side effect, on disk before its checkpoint is saved."""
    with log.open("a") as out:
        out.write(line)
        out.flush()
        os.fsync(out.fileno())
