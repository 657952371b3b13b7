"""Handlers the edge tests run on real nodes."""

from __future__ import annotations

import asyncio
from typing import Any

from prsm_tasks import Fail, TaskContext


async def echo(ctx: TaskContext, **task_data: Any) -> dict[str, Any]:
    return {"echo": task_data}


async def slow(ctx: TaskContext, **task_data: Any) -> dict[str, Any]:
    """Runs ``seconds`` in small steps, noticing a cancel between them."""
    steps = 100
    for step in range(steps):
        await asyncio.sleep(float(task_data.get("seconds", 30.0)) / steps)
        ctx.raise_if_cancelled()
        ctx.progress((step + 1) / steps)
    return {"slept": task_data.get("seconds")}


async def fail(ctx: TaskContext, **task_data: Any) -> dict[str, Any]:
    raise Fail(str(task_data.get("why", "it broke")))
