"""The schedules of one edge: the store, the index its watch keeps, the timer seam, and
who may see which schedule (the PRSM surface's rules: another tenant's schedule does not
exist, another user's is forbidden unless the caller is a tenant admin)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prsm_tasks import wire
from prsm_tasks.errors import ForbiddenError
from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.schedules.timer import NoTimer, ScheduleTimer
from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import Services
from prsm_tasks.services.schedules.index import ScheduleIndex
from prsm_tasks.store.schedule_timer import ServerScheduleTimer
from prsm_tasks.store.schedules import ScheduleStore, not_found
from prsm_tasks.store.timers import Timers
from prsm_tasks.store.watch import BucketWatch

SCHEDULE_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEFAULT_MAX_SCHEDULES = 10_000


@dataclass(kw_only=True)
class ScheduleService:
    services: Services
    store: ScheduleStore
    index: ScheduleIndex = field(default_factory=ScheduleIndex)
    # the seam the firing work plugs the server-side timer into (schedules/timer.py)
    timer: ScheduleTimer = field(default_factory=NoTimer)
    max_schedules: int = DEFAULT_MAX_SCHEDULES  # per tenant
    watch: BucketWatch | None = None

    def visible(self, principal: Principal) -> list[ScheduleRecord]:
        """The schedules the caller may list: their own, or the tenant's for an admin."""
        records = self.index.of_tenant(principal.tenant)
        if principal.is_admin:
            return list(records)
        return [record for record in records if record.user == principal.user]

    async def read(self, schedule_id: str, principal: Principal) -> tuple[ScheduleRecord, int]:
        """A schedule read from the bucket (not the index: a fresh read), access checked."""
        check_schedule_id(schedule_id)
        record, rev = await self.store.get(schedule_id)
        check_schedule_access(record, principal)
        return record, rev


def check_schedule_id(schedule_id: str) -> str:
    """A malformed id names no schedule: 404, like a missing one (and never a bad key)."""
    if not SCHEDULE_ID_RE.fullmatch(schedule_id):
        raise not_found(schedule_id[:64])
    return schedule_id


def check_schedule_access(record: ScheduleRecord, principal: Principal) -> None:
    if record.tenant != principal.tenant:
        raise not_found(record.schedule_id)
    if record.user != principal.user and not principal.is_admin:
        raise ForbiddenError(
            f"task {record.schedule_id} belongs to another user", task_id=record.schedule_id
        )


def now_utc() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


@contextlib.asynccontextmanager
async def open_schedules(
    services: Services, *, max_schedules: int = DEFAULT_MAX_SCHEDULES
) -> AsyncIterator[ScheduleService]:
    """The schedules on the services' connection, the index caught up with the bucket."""
    schedules = ScheduleService(
        services=services,
        store=await ScheduleStore.open(services.stores.js),
        timer=ServerScheduleTimer(Timers(services.stores.js)),
        max_schedules=max_schedules,
    )
    watch = BucketWatch(services.stores.js, wire.SCHEDULES_BUCKET, schedules.index.on_entry)
    schedules.watch = watch
    await watch.start()
    try:
        yield schedules
    finally:
        await watch.stop()
