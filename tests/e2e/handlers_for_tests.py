"""Handlers for node subprocesses started by the e2e tests (queue from PRSM_TEST_QUEUE)."""

from __future__ import annotations

import asyncio
import os

import prsm_tasks
from prsm_tasks import TaskContext

QUEUE = os.environ.get("PRSM_TEST_QUEUE", "e2e_queue")


@prsm_tasks.handler(QUEUE)
async def sleepy(ctx: TaskContext, seconds: float = 0.0) -> dict[str, object]:
    await asyncio.sleep(seconds)
    return {"node": ctx.node_id, "attempt": ctx.attempt}


async def quick(ctx: TaskContext, seconds: float = 0.0) -> dict[str, object]:
    """The same task contract, done at once (for the survivor of a kill -9)."""
    return {"node": ctx.node_id, "attempt": ctx.attempt}
