"""The schedules' service of one edge (its store and the index kept by one watch of
PRSM_SCHEDULES), on the app as ``SCHEDULES``, for every surface that shows schedules (the
scheduler API, the hub's scheduling app): one index per edge, so a write through either
surface is read back through the other at once.

Each such surface declares ``open_scheduler`` as its lifetime; the first to run opens the
service and the others find it open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from prsm_tasks.edge.http.state import STATE
from prsm_tasks.services.schedules.core import ScheduleService, open_schedules

SCHEDULES: web.AppKey[ScheduleService] = web.AppKey("prsm_schedules", ScheduleService)


async def open_scheduler(app: web.Application) -> AsyncIterator[None]:
    if SCHEDULES in app:
        yield  # another surface opened it, and closes it
        return
    state = app[STATE]
    async with open_schedules(
        state.services, max_schedules=state.config.quotas.max_schedules
    ) as schedules:
        app[SCHEDULES] = schedules
        yield
