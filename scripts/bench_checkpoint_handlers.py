"""The handlers scripts/bench_checkpoints.py drains: the no-op (queue ``bench``) and the
no-op saving one small checkpoint (queue ``bench-checkpoint``)."""

from __future__ import annotations

import prsm_tasks
from prsm_tasks import TaskContext


@prsm_tasks.handler("bench")
async def noop(ctx: TaskContext, **task_data: object) -> None:
    return None


@prsm_tasks.handler("bench-checkpoint")
async def checkpoints_once(ctx: TaskContext, **task_data: object) -> None:
    await ctx.checkpoint({"step": 1, "of": 1}, summary="1/1")
