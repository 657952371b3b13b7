"""The edge node as the CLI runs it: every API surface, mounted over one service layer.

A surface is a package under ``edge/surfaces/`` with one ``SURFACE``; adding one (the
scheduler, the hub) is one more line here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from prsm_tasks.edge.http import app as http_app
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.state import EdgeConfig
from prsm_tasks.edge.http.surface import Surface
from prsm_tasks.edge.surfaces.events.surface import SURFACE as EVENTS
from prsm_tasks.edge.surfaces.hub.surface import SURFACE as HUB
from prsm_tasks.edge.surfaces.prsm.surface import SURFACE as PRSM
from prsm_tasks.edge.surfaces.scheduler.surface import SURFACE as SCHEDULER
from prsm_tasks.edge.surfaces.task_list.surface import SURFACE as TASK_LIST

# in this order: the task list's /api/tasks/claim before the events' /api/tasks/{task_id};
# the hub's paths all end with "/", so no other surface's route reads one of them
SURFACES: tuple[Surface, ...] = (PRSM, TASK_LIST, EVENTS, SCHEDULER, HUB)


@contextlib.asynccontextmanager
async def open_edge(
    config: EdgeConfig, surfaces: Sequence[Surface] = SURFACES
) -> AsyncIterator[RunningEdge]:
    """Serve the edge on ``config.host:config.port`` (0: a free port) until the block ends."""
    async with http_app.open_edge(config, surfaces) as edge:
        yield edge


async def serve_edge(
    config: EdgeConfig, *, stop: asyncio.Event, on_ready: Callable[[RunningEdge], None]
) -> None:
    async with open_edge(config) as edge:
        on_ready(edge)
        await stop.wait()
