"""Schedule records in ``PRSM_SCHEDULES``: created once, then changed only by
compare-and-set on the revision read, deleted on the revision read too.

A change is a pure function of the record (``update``): it is applied to a fresh read and
written against that read's revision; a write that lost its race to another edge or node
(the firing work re-arming, a second PATCH) reads again and applies the change again.
"""

from __future__ import annotations

from collections.abc import Callable

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from prsm_tasks import wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.errors import ServiceUnavailableError, TaskNotFoundError, TransitionConflictError
from prsm_tasks.schedules.record import ScheduleRecord

CAS_ATTEMPTS = 16
Found = tuple[ScheduleRecord, int]  # a record and its revision
Change = Callable[[ScheduleRecord], ScheduleRecord]


def encode(record: ScheduleRecord) -> bytes:
    return wire.pack(record.model_dump())


def decode(data: bytes) -> ScheduleRecord:
    return ScheduleRecord.model_validate(wire.unpack(data))


def not_found(schedule_id: str) -> TaskNotFoundError:
    # the document calls a schedule a "task": its errors say so too
    return TaskNotFoundError(f"Task with ID {schedule_id} not found", task_id=schedule_id)


class ScheduleStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> ScheduleStore:
        with nats_errors_as_prsm(f"opening {wire.SCHEDULES_BUCKET}"):
            try:
                return cls(await js.key_value(wire.SCHEDULES_BUCKET))
            except nats.js.errors.BucketNotFoundError as exc:
                raise ServiceUnavailableError(
                    f"the {wire.SCHEDULES_BUCKET} bucket does not exist (topology not created)"
                ) from exc

    async def create(self, record: ScheduleRecord) -> int:
        """Write a new record (a ``create``: an id is never written twice); its revision."""
        with nats_errors_as_prsm(f"creating schedule {record.schedule_id}"):
            try:
                return await self._kv.create(record.schedule_id, encode(record))
            except nats.js.errors.KeyWrongLastSequenceError as exc:
                raise TransitionConflictError(
                    f"schedule {record.schedule_id} exists", task_id=record.schedule_id
                ) from exc

    async def get(self, schedule_id: str) -> Found:
        with nats_errors_as_prsm(f"reading schedule {schedule_id}"):
            try:
                entry = await self._kv.get(schedule_id)
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError) as exc:
                raise not_found(schedule_id) from exc
        if entry.value is None or entry.revision is None:
            raise not_found(schedule_id)
        return decode(entry.value), entry.revision

    async def update(
        self, schedule_id: str, change: Change, *, read: Found | None = None
    ) -> tuple[ScheduleRecord, ScheduleRecord, int]:
        """Apply ``change`` to the record by compare-and-set, reading again after a lost
        race; (before, after, revision). ``change`` may raise to refuse (nothing written).
        ``read``: the record and revision the caller just read, tried first (a stale one
        only costs the lost race: the compare-and-set refuses it and the loop reads)."""
        for _ in range(CAS_ATTEMPTS):
            before, rev = read if read is not None else await self.get(schedule_id)
            read = None
            after = change(before)
            if after == before:
                return before, after, rev  # nothing to write (a PATCH of equal values)
            with nats_errors_as_prsm(f"updating schedule {schedule_id}"):
                try:
                    new_rev = await self._kv.update(schedule_id, encode(after), last=rev)
                except nats.js.errors.KeyWrongLastSequenceError:
                    continue  # changed since our read (another edge, the firing): again
            return before, after, new_rev
        raise TransitionConflictError(
            f"schedule {schedule_id} kept changing; try again", task_id=schedule_id
        )

    async def delete(
        self, schedule_id: str, check: Callable[[ScheduleRecord], None]
    ) -> ScheduleRecord:
        """Delete the record as read, after ``check`` (the caller's access) passed on it."""
        for _ in range(CAS_ATTEMPTS):
            record, rev = await self.get(schedule_id)
            check(record)
            with nats_errors_as_prsm(f"deleting schedule {schedule_id}"):
                try:
                    await self._kv.delete(schedule_id, last=rev)
                except nats.js.errors.KeyWrongLastSequenceError:
                    continue
            return record
        raise TransitionConflictError(
            f"schedule {schedule_id} kept changing; try again", task_id=schedule_id
        )
