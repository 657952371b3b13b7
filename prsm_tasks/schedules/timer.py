"""The seam between the schedules' records and the server-side timer that fires them.

Every change that moves a schedule's next due time, or stops it, calls one ``ScheduleTimer``
after its compare-and-set: ``arm`` on create, PATCH and resume, ``disarm`` on pause and
delete. The edge plugs ``store/schedule_timer.ServerScheduleTimer`` in (a ``PRSM_TIMERS``
timer per schedule, armed and disarmed by (kind, key)); ``NoTimer`` keeps the records right
and fires nothing (for a service without timers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

TIMER_KIND = "schedule"  # the (kind, key) of a schedule's timer: ("schedule", schedule id)
# the timer of a schedule's held runs (a parent had no run yet): ("schedule_wait", its id)
WAIT_TIMER_KIND = "schedule_wait"


class ScheduleTimer(Protocol):
    async def arm(self, schedule_id: str, due_at: datetime) -> None:
        """Hold one pending fire of ``schedule_id`` at ``due_at``, replacing any other."""
        ...

    async def disarm(self, schedule_id: str) -> None:
        """Drop the pending fire of ``schedule_id``, if any (runs already created stay)."""
        ...

    async def wake(self, schedule_id: str, at: datetime) -> None:
        """Look at the held runs of ``schedule_id`` again at ``at`` (a parent changed)."""
        ...


class NoTimer:
    """Arms nothing: the default of a ScheduleService opened without the server's timers."""

    async def arm(self, schedule_id: str, due_at: datetime) -> None:
        return None

    async def disarm(self, schedule_id: str) -> None:
        return None

    async def wake(self, schedule_id: str, at: datetime) -> None:
        return None
