"""PRSM_SCHEDULES in memory, kept by one watch: listing and the dependency walk read it.

An edge also applies what it writes at once (read-your-writes); a revision from the watch
that is older than the one held is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.store.schedules import Found, decode


class ScheduleIndex:
    def __init__(self) -> None:
        self.by_id: dict[str, Found] = {}
        self.by_tenant: dict[str, set[str]] = {}
        self._removed: dict[str, int] = {}  # id -> revision of its removal, to ignore replays

    def on_entry(self, key: str, value: bytes | None, rev: int) -> None:
        if value is None:
            self.remove(key, rev)
            # the watch is ordered: after a key's delete no older write of it comes, and ids
            # are never reused, so its tombstone can go
            self._removed.pop(key, None)
        else:
            self.apply(decode(value), rev)

    def apply(self, record: ScheduleRecord, rev: int) -> None:
        held = self.by_id.get(record.schedule_id)
        if (held is not None and held[1] > rev) or self._removed.get(record.schedule_id, 0) > rev:
            return
        self.by_id[record.schedule_id] = (record, rev)
        self.by_tenant.setdefault(record.tenant, set()).add(record.schedule_id)

    def remove(self, schedule_id: str, rev: int | None = None) -> None:
        """Drop a schedule; ``rev`` of its removal (None: removed here, so any revision this
        index held is older)."""
        held = self.by_id.pop(schedule_id, None)
        if rev is None:
            rev = held[1] + 1 if held is not None else 0
        self._removed[schedule_id] = max(rev, self._removed.get(schedule_id, 0))
        if held is not None:
            self.by_tenant.get(held[0].tenant, set()).discard(schedule_id)

    def of_tenant(self, tenant: str) -> Iterator[ScheduleRecord]:
        for schedule_id in self.by_tenant.get(tenant, ()):
            found = self.by_id.get(schedule_id)
            if found is not None:
                yield found[0]

    def count(self, tenant: str) -> int:
        return len(self.by_tenant.get(tenant, ()))

    def get(self, schedule_id: str) -> ScheduleRecord | None:
        found = self.by_id.get(schedule_id)
        return found[0] if found is not None else None
