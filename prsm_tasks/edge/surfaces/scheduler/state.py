"""What the scheduler surface opens for the edge's lifetime: the schedules' service (its
store and the index kept by a watch of PRSM_SCHEDULES), on the app as ``SCHEDULES``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from prsm_tasks.edge.http.state import STATE
from prsm_tasks.services.schedules.core import ScheduleService, open_schedules

SCHEDULES: web.AppKey[ScheduleService] = web.AppKey("prsm_schedules", ScheduleService)


async def open_scheduler(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    async with open_schedules(
        state.services, max_schedules=state.config.quotas.max_schedules
    ) as schedules:
        app[SCHEDULES] = schedules
        yield
