"""TaskView: the PRSM_TASKS bucket as an in-memory index, kept current by one watch.

Listing, queue positions, wait estimates and statistics read this index; nothing scans the
bucket per request. It catches up from the bucket on start (every key's latest value) and
then applies every write in order. Point reads (/status) go to the KV key itself.

The edge also applies the records it writes as soon as it has written them (revision 0,
"provisional"), so a caller who enqueues and then lists through the same edge sees the task
even before the watch delivers it; any revision from the watch replaces it.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prsm_tasks import wire
from prsm_tasks.models import BANDS_HIGH_TO_LOW, TaskRecord, attempt_fields, band_for_priority
from prsm_tasks.services.attempt_rows import AttemptRow, data_keys_of, rows_of
from prsm_tasks.services.hub.facts import NO_FACTS, HubFacts, hub_facts

BAND_INDEX = {band: index for index, band in enumerate(BANDS_HIGH_TO_LOW)}
PENDING = frozenset({"enqueued", "waiting", "scheduled"})
FINAL = frozenset({"completed", "failed", "cancelled", "timeout"})
PUBLIC_STATUS = {"waiting": "enqueued", "scheduled": "enqueued"}
RECENT_PER_QUEUE = 500
RECENT_ALL = 5000
MAX_CREATED_AWAITED_BYTES = 32 * 1024 * 1024  # of records whose watch copy is awaited


RunAttempt = tuple[float, float | None, str]  # (started_at, ended_at, outcome)
MAX_SCHEDULE_ID_CHARS = 64


def schedule_of(metadata: Any) -> str | None:
    """The schedule a task is a run of (its ``metadata.schedule_id``), if any."""
    if not isinstance(metadata, dict):
        return None
    value = metadata.get("schedule_id")
    return value if isinstance(value, str) and 0 < len(value) <= MAX_SCHEDULE_ID_CHARS else None


def public_status(status: str) -> str:
    """The PRSM status names: a task waiting for its batch or its time is ``enqueued``."""
    return PUBLIC_STATUS.get(status, status)


@dataclass(slots=True)
class Entry:
    task_id: str
    tenant: str | None
    user: str | None
    queue: str
    status: str
    priority: int
    created_at: float
    enqueued_at: float
    started_at: float | None
    completed_at: float | None
    first_started_at: float | None
    retry_count: int
    rev: int
    task_type: str | None = None  # the task list API (/api/tasks) lists typed tasks
    number: int | None = None  # the task's integer id (models.task_number); None: not known
    facts: HubFacts = NO_FACTS
    # its ended attempts with their metrics, and its data's first keys (search), for the
    # monitoring services (services/hub_metrics.py, services/alerts/)
    attempt_rows: tuple[AttemptRow, ...] = ()
    data_keys: tuple[str, ...] = ()
    checkpoint: dict[str, Any] | None = None  # its last checkpoint's mark (persistent jobs)
    # a schedule's run (metadata.schedule_id) and, for runs only, its attempts as
    # (started_at, ended_at, outcome): a schedule's executions and stats read them here
    schedule_id: str | None = None
    run_attempts: tuple[RunAttempt, ...] = ()

    @property
    def band_index(self) -> int:
        return BAND_INDEX[band_for_priority(self.priority)]

    @property
    def execution_time_seconds(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return max(0.0, self.completed_at - self.started_at)

    @property
    def wait_time_seconds(self) -> float | None:
        if self.first_started_at is None:
            return None
        return max(0.0, self.first_started_at - self.created_at)

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING

    @property
    def is_queued(self) -> bool:
        """Enqueued and able to start: counts towards positions (waiting tasks do not)."""
        return self.status == "enqueued"

    @classmethod
    def from_raw(cls, raw: dict[str, Any], rev: int) -> Entry:
        attempts = raw.get("attempts") or ()
        schedule_id = schedule_of(raw.get("metadata"))
        return cls(
            task_id=raw["task_id"],
            tenant=raw.get("tenant"),
            user=raw.get("user"),
            queue=raw["queue_name"],
            status=str(raw.get("status", "enqueued")),
            priority=int(raw.get("priority", 5)),
            created_at=float(raw["created_at"]),
            enqueued_at=float(raw.get("enqueued_at") or raw["created_at"]),
            started_at=raw.get("started_at"),
            completed_at=raw.get("completed_at"),
            first_started_at=attempts[0].get("started_at") if attempts else None,
            retry_count=int(raw.get("retry_count", 0)),
            rev=rev,
            task_type=raw.get("task_type"),
            number=int(raw.get("created_rev") or rev) or None,
            facts=hub_facts(raw.get("tenant"), raw.get("task_data"), raw.get("metadata"), attempts),
            attempt_rows=rows_of(attempts),
            data_keys=data_keys_of(raw.get("task_data")),
            checkpoint=raw.get("checkpoint"),
            schedule_id=schedule_id,
            run_attempts=tuple(
                (a["started_at"], a.get("ended_at"), str(a.get("outcome")))
                for a in (attempts if schedule_id is not None else ())
            ),
        )

    @classmethod
    def from_record(cls, record: TaskRecord, rev: int = 0) -> Entry:
        schedule_id = schedule_of(record.metadata)
        return cls(
            task_id=record.task_id,
            tenant=record.tenant,
            user=record.user,
            queue=record.queue_name,
            status=str(record.status),
            priority=record.priority,
            created_at=record.created_at,
            enqueued_at=record.enqueued_at,
            started_at=record.started_at,
            completed_at=record.completed_at,
            first_started_at=record.attempts[0].started_at if record.attempts else None,
            retry_count=record.retry_count,
            rev=rev,
            task_type=record.task_type,
            number=record.created_rev or rev or None,
            # the Attempt model keeps no measures: the watch's copy brings has_metrics
            facts=hub_facts(record.tenant, record.task_data, record.metadata, ()),
            attempt_rows=rows_of(attempt_fields(a) for a in record.attempts),
            data_keys=data_keys_of(record.task_data),
            checkpoint=record.checkpoint.model_dump() if record.checkpoint is not None else None,
            schedule_id=schedule_id,
            run_attempts=tuple(
                (a.started_at, a.ended_at, str(a.outcome))
                for a in (record.attempts if schedule_id is not None else ())
            ),
        )


class Scope:
    """The tasks one caller may list (a user's, or a whole tenant's), newest first on demand."""

    __slots__ = ("_newest_first", "counts", "tasks")

    def __init__(self) -> None:
        self.tasks: dict[str, Entry] = {}
        self.counts: Counter[str] = Counter()  # by internal status
        self._newest_first: list[Entry] | None = None

    def add(self, entry: Entry) -> None:
        if entry.task_id not in self.tasks:
            self._newest_first = None
        self.tasks[entry.task_id] = entry
        self.counts[entry.status] += 1

    def remove(self, entry: Entry) -> None:
        if self.tasks.pop(entry.task_id, None) is not None:
            self.counts[entry.status] -= 1
            self._newest_first = None

    def newest_first(self) -> list[Entry]:
        if self._newest_first is None:
            self._newest_first = sorted(
                self.tasks.values(), key=lambda e: (e.created_at, e.task_id), reverse=True
            )
        return self._newest_first


class RecentMean:
    """The mean of the last ``size`` values, kept as a running sum (O(1) to read)."""

    __slots__ = ("_sum", "_values")

    def __init__(self, size: int) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._sum = 0.0

    def add(self, value: float | None) -> None:
        if value is None:
            return
        if len(self._values) == self._values.maxlen:
            self._sum -= self._values[0]
        self._values.append(value)
        self._sum += value

    @property
    def mean(self) -> float | None:
        return self._sum / len(self._values) if self._values else None


@dataclass(slots=True)
class Finished:
    """A recent final state seen in one queue: for wait estimates and throughput."""

    at: float
    status: str
    execution_s: float | None
    wait_s: float | None


def same_place(old: Entry, new: Entry) -> bool:
    """Whether ``new`` sits where ``old`` does in its queue's lanes (or neither is queued)."""
    if old.is_queued != new.is_queued or not old.is_queued:
        return old.is_queued == new.is_queued
    return old.band_index == new.band_index and old.enqueued_at == new.enqueued_at


def requeued(old: Entry, new: Entry) -> bool:
    """``new`` is the final task ``old`` run again (store/requeue.py: a retry, a resume),
    not an older write of it arriving late: enqueued after it ended, and a later write."""
    return (
        new.status == "enqueued"
        and old.completed_at is not None
        and new.enqueued_at > old.completed_at
        and (new.rev > old.rev or 0 in (old.rev, new.rev))
    )


class TaskView:
    def __init__(self, *, partitions: int = 1) -> None:
        # the deployment's partitions: a task's number says which one (deployment_task_number)
        self.partitions = partitions
        self.entries: dict[str, Entry] = {}
        # task number -> task id (the task list's integer ids), as many as there are entries
        self.numbers: dict[int, str] = {}
        self.owners: dict[tuple[str | None, str | None], Scope] = {}
        self.tenants: dict[str | None, Scope] = {}
        self.tenant_queues: dict[tuple[str | None, str], Scope] = {}
        # per tenant, its tasks with a checkpoint (the persistent jobs' listings)
        self.checkpointed: dict[str | None, Scope] = {}
        # schedule id -> its runs seen here (task id -> entry): one entry per task at most,
        # so it is bounded by the view itself and drops a run when its record goes
        self.schedule_runs: dict[str, dict[str, Entry]] = {}
        # per queue, per band (critical first): sorted (enqueued_at, task_id) of queued tasks
        self.queued: dict[str, list[list[tuple[float, str]]]] = {}
        # (queue or None for all) -> running means of execution and wait times
        self.execution_means: dict[str | None, RecentMean] = {}
        self.wait_means: dict[str | None, RecentMean] = {}
        self.finished_by_day: Counter[tuple[int, str]] = Counter()  # (UTC day, status)
        self.finished_by_second: Counter[int] = Counter()  # the last hour, for throughput
        self.writes_seen = 0
        # task id -> the bytes this edge created it with, until the watch delivers them
        self._created: dict[str, bytes] = {}
        self._created_bytes = 0

    # --- applying writes -----------------------------------------------------------------------

    def on_entry(self, key: str, value: bytes | None, rev: int) -> None:
        """The BucketWatch sink: one write of the PRSM_TASKS bucket."""
        self.writes_seen += 1
        if value is None:
            old = self.entries.get(key)
            if old is not None and old.rev <= rev:
                self._remove(old)
            return
        created = self._created.pop(key, None)
        if created is not None:
            self._created_bytes -= len(created)
            if created == value and self._confirm(key, rev):
                return
        self.apply(Entry.from_raw(wire.unpack(value), rev))

    def apply_record(self, record: TaskRecord) -> None:
        """A record this edge just wrote: visible at once (the watch confirms it later)."""
        self.apply(Entry.from_record(record, rev=0))

    def apply_created(self, record: TaskRecord, payload: bytes) -> None:
        """``apply_record`` of a create: its watch copy, these very bytes, is not decoded."""
        if self._created_bytes + len(payload) > MAX_CREATED_AWAITED_BYTES:
            self._created.clear()  # a watch far behind: decode those copies as any write
            self._created_bytes = 0
        self._created_bytes += len(payload) - len(self._created.get(record.task_id, b""))
        self._created[record.task_id] = payload
        self.apply_record(record)

    def _confirm(self, task_id: str, rev: int) -> bool:
        """The watch's copy of an own create takes its revision; False: apply it in full."""
        entry = self.entries.get(task_id)
        if entry is None or entry.rev != 0:
            return False
        entry.rev = rev
        if entry.number is None:
            entry.number = rev  # a create is numbered by its own revision
            self._number(entry)
        return True

    def apply(self, entry: Entry) -> None:
        if entry.number is not None:
            entry.number = wire.deployment_task_number(entry.number, entry.task_id, self.partitions)
        old = self.entries.get(entry.task_id)
        if old is None:
            self._add(entry)
            return
        if old.status in FINAL and entry.status not in FINAL and not requeued(old, entry):
            return  # a final state is final: this is an older write arriving late
        provisional_end = entry.rev == 0 and entry.status in FINAL and old.status not in FINAL
        if entry.rev < old.rev and not provisional_end:
            # an older write, or our provisional copy of one the watch already gave; but a
            # final state we just wrote (a cancel) wins at once: nothing can follow it
            return
        if provisional_end:
            entry.rev = old.rev  # keep the watch's revision, so its later writes still order
        if entry.number is None:
            entry.number = old.number  # a copy that does not know it yet keeps the one known
        self._number(entry)
        if entry.status in FINAL and old.status not in FINAL:
            self._note_finished(entry)
        # the watch's copy of a write this edge applied already keeps its place: moving it
        # would shift the queue's lane twice (two copies of a list of every queued task)
        moves = not same_place(old, entry)
        if moves:
            self._unqueue(old)
        if entry.status != old.status:
            for scope in self._scopes_of(old):
                scope.counts[old.status] -= 1
                scope.counts[entry.status] += 1
        # owner, queue and created_at never change: update in place, keeping sort orders
        had_checkpoint = old.checkpoint is not None
        if entry.checkpoint is None:
            entry.checkpoint = old.checkpoint  # a mark stays (a writer unaware of it drops it)
        for name in Entry.__slots__:
            setattr(old, name, getattr(entry, name))
        if moves:
            self._enqueue(old)
        if old.checkpoint is not None and not had_checkpoint:
            self._scope(self.checkpointed, old.tenant).add(old)

    def _add(self, entry: Entry) -> None:
        if entry.status in FINAL:
            self._note_finished(entry)
        self.entries[entry.task_id] = entry
        self._number(entry)
        self._scope(self.owners, (entry.tenant, entry.user)).add(entry)
        self._scope(self.tenants, entry.tenant).add(entry)
        self._scope(self.tenant_queues, (entry.tenant, entry.queue)).add(entry)
        if entry.checkpoint is not None:
            self._scope(self.checkpointed, entry.tenant).add(entry)
        if entry.schedule_id is not None:
            self.schedule_runs.setdefault(entry.schedule_id, {})[entry.task_id] = entry
        self._enqueue(entry)

    def _scopes_of(self, entry: Entry) -> list[Scope]:
        scopes = [
            self._scope(self.owners, (entry.tenant, entry.user)),
            self._scope(self.tenants, entry.tenant),
            self._scope(self.tenant_queues, (entry.tenant, entry.queue)),
        ]
        if entry.checkpoint is not None:  # a mark, once set, stays: it is in this scope
            scopes.append(self._scope(self.checkpointed, entry.tenant))
        return scopes

    def _enqueue(self, entry: Entry) -> None:
        if entry.is_queued:
            lanes = self.queued.setdefault(entry.queue, [[], [], [], []])
            bisect.insort(lanes[entry.band_index], (entry.enqueued_at, entry.task_id))

    def _unqueue(self, entry: Entry) -> None:
        if not entry.is_queued:
            return
        lane = self.queued[entry.queue][entry.band_index]
        at = bisect.bisect_left(lane, (entry.enqueued_at, entry.task_id))
        if at < len(lane) and lane[at][1] == entry.task_id:
            del lane[at]

    def _number(self, entry: Entry) -> None:
        if entry.number is not None:
            self.numbers[entry.number] = entry.task_id

    def _remove(self, entry: Entry) -> None:
        del self.entries[entry.task_id]
        if entry.number is not None and self.numbers.get(entry.number) == entry.task_id:
            del self.numbers[entry.number]
        for scope in self._scopes_of(entry):
            scope.remove(entry)
        runs = self.schedule_runs.get(entry.schedule_id) if entry.schedule_id else None
        if runs is not None:
            runs.pop(entry.task_id, None)
            if not runs:
                del self.schedule_runs[entry.schedule_id]  # type: ignore[arg-type]
        self._unqueue(entry)

    @staticmethod
    def _scope(scopes: dict[Any, Scope], key: Any) -> Scope:
        scope = scopes.get(key)
        if scope is None:
            scope = scopes[key] = Scope()
        return scope

    def _note_finished(self, entry: Entry) -> None:
        finished = Finished(
            at=entry.completed_at or time.time(),
            status=entry.status,
            execution_s=entry.execution_time_seconds,
            wait_s=entry.wait_time_seconds,
        )
        for key, size in ((entry.queue, RECENT_PER_QUEUE), (None, RECENT_ALL)):
            for means, value in (
                (self.execution_means, finished.execution_s),
                (self.wait_means, finished.wait_s),
            ):
                mean = means.get(key)
                if mean is None:
                    mean = means[key] = RecentMean(size)
                mean.add(value)
        self.finished_by_day[(int(finished.at // 86_400), finished.status)] += 1
        second = int(finished.at)
        self.finished_by_second[second] += 1
        if len(self.finished_by_second) > 7200:
            cutoff = second - 3600
            for old in [s for s in self.finished_by_second if s < cutoff]:
                del self.finished_by_second[old]

    def finished_since(self, since: float) -> int:
        start = int(since)
        return sum(n for second, n in self.finished_by_second.items() if second >= start)

    def finished_today(self, now: float) -> Counter[str]:
        today = int(now // 86_400)
        return Counter(
            {status: n for (day, status), n in self.finished_by_day.items() if day == today}
        )

    # --- reading ---------------------------------------------------------------------------

    def position(self, task_id: str) -> int | None:
        """1-based place of a queued task in its queue by (band, enqueue order)."""
        entry = self.entries.get(task_id)
        if entry is None or not entry.is_queued:
            return None
        lanes = self.queued.get(entry.queue)
        if lanes is None:
            return None
        ahead = sum(len(lanes[i]) for i in range(entry.band_index))
        ahead += bisect.bisect_left(lanes[entry.band_index], (entry.enqueued_at, entry.task_id))
        return ahead + 1

    def queued_by_band(self, queue: str) -> list[int]:
        lanes = self.queued.get(queue)
        return [len(lane) for lane in lanes] if lanes is not None else [0, 0, 0, 0]

    def queues(self) -> set[str]:
        return {queue for queue, lanes in self.queued.items() if any(lanes)}

    def average_execution_s(self, queue: str | None) -> float | None:
        """Mean run time of the queue's recent tasks (of all queues with None)."""
        mean = self.execution_means.get(queue)
        return mean.mean if mean is not None else None

    def average_wait_s(self, queue: str | None) -> float | None:
        mean = self.wait_means.get(queue)
        return mean.mean if mean is not None else None

    def task_of_number(self, number: int) -> str | None:
        """The id of the task numbered ``number`` (see ``models.task_number``), if seen."""
        return self.numbers.get(number)

    def number_of(self, task_id: str) -> int | None:
        entry = self.entries.get(task_id)
        return entry.number if entry is not None else None

    def visible(self, tenant: str, user: str, *, admin: bool) -> Scope:
        scope = self.tenants.get(tenant) if admin else self.owners.get((tenant, user))
        return scope if scope is not None else Scope()

    def with_checkpoint(self, tenant: str) -> Scope:
        """The tenant's tasks with a checkpoint (any status), newest first on demand."""
        scope = self.checkpointed.get(tenant)
        return scope if scope is not None else Scope()

    def runs_of_schedule(self, schedule_id: str, tenant: str, user: str) -> list[Entry]:
        """The runs of a schedule seen here, of its owner only: a task of anyone else that
        names the schedule in its metadata is not one of its runs."""
        runs = self.schedule_runs.get(schedule_id)
        if runs is None:
            return []
        return [run for run in runs.values() if run.tenant == tenant and run.user == user]

    def tenant_queue(self, tenant: str, queue: str) -> Iterator[Entry]:
        scope = self.tenant_queues.get((tenant, queue))
        return iter(scope.tasks.values()) if scope is not None else iter(())
