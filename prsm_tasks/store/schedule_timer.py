"""The schedules' timer over the server-held timers: one timer per schedule, kind
``schedule``, key the schedule id (``schedules/timer.py`` is the seam it fills)."""

from __future__ import annotations

from datetime import datetime

from prsm_tasks.schedules.timer import TIMER_KIND, WAIT_TIMER_KIND
from prsm_tasks.store.timers import Timers


class ServerScheduleTimer:
    """Arms and disarms a schedule's fire in PRSM_TIMERS (a re-arm replaces the pending one)."""

    def __init__(self, timers: Timers) -> None:
        self._timers = timers

    async def arm(self, schedule_id: str, due_at: datetime) -> None:
        await self._timers.arm(TIMER_KIND, schedule_id, due_at.timestamp())

    async def disarm(self, schedule_id: str) -> None:
        await self._timers.disarm(TIMER_KIND, schedule_id)

    async def wake(self, schedule_id: str, at: datetime) -> None:
        await self._timers.arm(WAIT_TIMER_KIND, schedule_id, at.timestamp())
