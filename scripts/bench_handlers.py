"""The no-op handler the benchmarks drain (queue ``bench``)."""

from __future__ import annotations

import prsm_tasks
from prsm_tasks import TaskContext


@prsm_tasks.handler("bench")
async def noop(ctx: TaskContext, **task_data: object) -> None:
    return None
