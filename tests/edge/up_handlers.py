"""A user's own handler module, loaded by `prsm-tasks up --handlers tests.edge.up_handlers`."""

from __future__ import annotations

import prsm_tasks
from prsm_tasks import TaskContext

OWN_QUEUE = "own_handlers_queue"


@prsm_tasks.handler(OWN_QUEUE)
async def double(ctx: TaskContext, n: int) -> dict[str, int]:
    return {"doubled": 2 * n}
