"""The repair: tasks recorded without their work message get one, and batches left stalled
go on.

An enqueue creates the record, then publishes the work message. A failure in between (NATS
wedged, the producer killed) leaves a record ``enqueued`` that no node will ever see; a bulk
that failed after writing its ``waiting`` tasks, or a node that died between a batch task's
final write and its batch hook, leaves ``waiting`` tasks that nothing will release.

**What a pass reads.** PRSM_TASKS keeps one revision per key, so its stream holds each
record's latest write, in the order written. A pass reads that stream from a cursor (in
batches, at most ``scan_limit`` records), only writes at least ``after_s`` old, and moves the
cursor past them: every record is looked at once after its last write has aged, never the
whole bucket per pass. A record that changes later is written again, further on.

**Is its message lost?** An enqueued record never attempted is only a candidate: in a
backlog its message is simply queued. The pass walks the work messages of its (queue, band)
oldest first (at most ``scan_limit`` in all): a candidate whose id is not among them is lost
when the walk reached the end, or reached messages stored later than the candidate's own
publish could have landed (``PUBLISH_WINDOW_S`` after its write). Otherwise it is kept
aside (``deferred``) and looked at again next pass.

**Re-publishing is harmless.** A lost task is first put in the cancel memory (so no node
starts a message of it before claiming), then, once that has reached the nodes, its record
is read again and, unchanged, published as a work message that is never a first one: a node
claims it by compare-and-set before running it, and if the original message was there after
all, the claim lets one of them run it and the ownership rules drop the other.

**Partitions.** A ``Repair`` reads one partition's task bucket and walks that partition's
work stream (a task's message is in the partition of its record): each partition has its
own repair, lease and cursor (actors/repair.py).

**Batches.** A ``waiting`` task, or a final task of a tracked batch, has its batch
reconciled (``BatchCoordinator.reconcile``): ended tasks whose hook did not run are counted,
tasks a failed bulk never wrote take no slot, and what may run is released.

**Task graphs.** A ``waiting`` task with parents (``depends_on``), or the root of a graph
whose creation died half way, is evaluated (``TaskGraph.cascade``): a process that died
between a parent's final write and its hook left it waiting though its parents are decided.
So are the children a started or final parent names (``dependents``): that parent's last
write is the one whose hook may have been lost. One whose parents are still undecided
stays waiting, untouched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import nats.js.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from prsm_tasks import models, wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.errors import PrsmError, TaskNotFoundError
from prsm_tasks.models import TaskStatus
from prsm_tasks.store.batches import BATCH_TRACKED, BatchCoordinator
from prsm_tasks.store.cancels import forbid_unclaimed_start
from prsm_tasks.store.graph import GRAPH_ROOT
from prsm_tasks.store.tasks import TaskStore

log = structlog.get_logger("prsm.repair")

# an enqueue's own publish is retried for up to about this long after its record's write
PUBLISH_WINDOW_S = 60.0
# time for a cancel-memory key to reach every node's mirror before the message goes out
PROPAGATION_S = 1.0
READ_WINDOW = 64
FETCH_BATCH = 256
FETCH_TIMEOUT_S = 5.0
CONSUMER_IDLE_S = 60.0  # a pass's consumer left behind (its node died) goes after this
FINAL = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An enqueued record never attempted, as the scan found it (its write's revision)."""

    task_id: str
    rev: int
    written_at: float
    queue: str
    band: str


@dataclass(slots=True)
class Scan:
    """What one read of the records found."""

    cursor: int
    candidates: list[Candidate] = field(default_factory=list)
    batch_ids: set[str] = field(default_factory=set)
    scheduled: list[str] = field(default_factory=list)  # delayed tasks not yet let go
    children: list[str] = field(default_factory=list)  # waiting tasks of a task graph
    parents: list[str] = field(default_factory=list)  # children of started or final parents
    read: int = 0


@dataclass(frozen=True, slots=True)
class Walk:
    """The work messages of one (queue, band) seen from the oldest on."""

    task_ids: frozenset[str]
    read: int  # messages read
    until: float  # the store time of the last one seen (every older one was seen)
    complete: bool  # the walk reached the last message

    def lost(self, candidate: Candidate) -> bool | None:
        """True: not in the stream; False: queued; None: not known (the walk stopped short)."""
        if candidate.task_id in self.task_ids:
            return False
        if self.complete or self.until > candidate.written_at + PUBLISH_WINDOW_S:
            return True
        return None


@dataclass(slots=True)
class PassReport:
    read: int = 0
    republished: int = 0
    batches: int = 0
    deferred: int = 0
    scheduled: int = 0  # delayed tasks whose timer was armed again or that were let go
    children: int = 0  # waiting tasks of a task graph evaluated again
    overflow: bool = False  # more undecided than it may keep: part is scanned again


class Repair:
    """The reads and writes of the repair; the node's sweeper (actors/repair.py) runs it."""

    def __init__(
        self,
        js: JetStreamContext,
        store: TaskStore,
        batches: BatchCoordinator,
        *,
        after_s: float,
        scan_limit: int,
        partition: int = 0,
    ) -> None:
        self._js = js
        self.partition = partition
        self._tasks_stream = wire.tasks_stream(partition)
        self._store = store
        self._batches = batches
        self._writer = batches.writer
        self.after_s = after_s
        self.scan_limit = scan_limit
        # candidates whose message may be queued still, looked at again each pass (each
        # costs a read of its record then): at most as many as a pass scans
        self.deferred: dict[str, Candidate] = {}

    def resume_from(self, cursor: int) -> int:
        """Where a later holder of the lease starts: before any candidate still deferred."""
        return min([cursor, *(candidate.rev for candidate in self.deferred.values())])

    async def sweep(self, cursor: int) -> tuple[int, PassReport]:
        """One pass from ``cursor``; the cursor to go on from, and what it did."""
        scan = await self.scan(cursor, horizon=time.time() - self.after_s)
        report = PassReport(read=scan.read)
        still = await self.unchanged(self.deferred.values())
        candidates = {c.task_id: c for c in [*still, *scan.candidates]}
        lost, unknown = await self.classify(candidates.values())
        self.deferred = {}
        for candidate in sorted(unknown, key=lambda c: c.rev):
            if len(self.deferred) >= self.scan_limit:
                # no room to remember it: scan it (and what follows) again next pass
                scan.cursor = min(scan.cursor, candidate.rev)
                report.overflow = True
                continue
            self.deferred[candidate.task_id] = candidate
        report.deferred = len(self.deferred)
        report.republished = await self.republish(lost)
        report.scheduled = await self.rearm(scan.scheduled)
        if scan.children or scan.parents:
            graph = self._writer.graph
            try:
                report.children = await graph.heal(scan.children)
                report.children += await graph.cascade(scan.parents)
            except PrsmError as exc:  # scanned again when written again; else the next holder
                log.warning("graph_repair_failed", error=exc.message)
        for batch_id in sorted(scan.batch_ids):
            try:
                await self._batches.reconcile(batch_id)
                report.batches += 1
            except PrsmError as exc:  # looked at again when one of its tasks is written
                log.warning("batch_repair_failed", batch_id=batch_id, error=exc.message)
        return scan.cursor, report

    async def unchanged(self, candidates: Iterable[Candidate]) -> list[Candidate]:
        """The candidates whose record is still the write the scan found (a read each)."""
        kept: list[Candidate] = []
        pending = list(candidates)
        for start in range(0, len(pending), READ_WINDOW):
            window = pending[start : start + READ_WINDOW]
            reads = await asyncio.gather(
                *(self._store.get_encoded(c.task_id) for c in window), return_exceptions=True
            )
            for candidate, read in zip(window, reads, strict=True):
                if isinstance(read, TaskNotFoundError):
                    continue
                if isinstance(read, BaseException):
                    raise read
                if read[1] == candidate.rev:
                    kept.append(candidate)
        return kept

    async def scan(self, cursor: int, *, horizon: float) -> Scan:
        """Records last written before ``horizon``, from stream sequence ``cursor`` on, read
        in batches by a consumer of this pass alone (removed after it, or when idle)."""
        scan = Scan(cursor=max(cursor, 1))
        name = f"prsm_repair_{wire.new_task_id()[5:]}"
        config = ConsumerConfig(
            name=name,
            filter_subject=f"$KV.{wire.tasks_bucket(self.partition)}.>",
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=scan.cursor,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=CONSUMER_IDLE_S,
            mem_storage=True,
            num_replicas=1,
        )
        with nats_errors_as_prsm("reading task records for the repair"):
            info = await self._js.add_consumer(self._tasks_stream, config)
            try:
                sub = await self._js.pull_subscribe_bind(stream=self._tasks_stream, name=name)
                await self._read(sub, scan, horizon, waiting=info.num_pending or 0)
                await sub.unsubscribe()
            finally:
                await self._js.delete_consumer(self._tasks_stream, name)
        return scan

    async def _read(self, sub: Any, scan: Scan, horizon: float, *, waiting: int) -> None:
        """Until ``scan_limit``, the end (``waiting`` messages were there), or a write too
        recent (it and every later one are left for a later pass)."""
        while scan.read < self.scan_limit and waiting > 0:
            batch = min(FETCH_BATCH, self.scan_limit - scan.read, waiting)
            try:
                msgs = await sub.fetch(batch, timeout=FETCH_TIMEOUT_S)
            except nats.errors.TimeoutError:
                return  # fewer than counted: removed meanwhile
            for msg in msgs:
                meta = msg.metadata
                written_at = meta.timestamp.timestamp()
                if written_at > horizon:
                    return
                rev = meta.sequence.stream
                scan.cursor = rev + 1
                scan.read += 1
                waiting -= 1
                if msg.data:  # not a delete marker
                    self._note(scan, rev, written_at, msg.data)

    @staticmethod
    def _note(scan: Scan, rev: int, written_at: float, data: bytes) -> None:
        try:
            fields = wire.unpack(data)
            status = TaskStatus(fields["status"])
        except Exception as exc:  # not a record we can read: nothing to repair from it
            log.warning("repair_unreadable_record", rev=rev, error=repr(exc))
            return
        batch_id = fields.get("batch_id")
        metadata = fields.get("metadata") or {}
        if status is TaskStatus.ENQUEUED and not fields.get("attempts"):
            scan.candidates.append(
                Candidate(
                    task_id=str(fields["task_id"]),
                    rev=rev,
                    written_at=written_at,
                    queue=str(fields["queue_name"]),
                    band=str(models.band_for_priority(int(fields["priority"]))),
                )
            )
        elif status is TaskStatus.SCHEDULED:
            scan.scheduled.append(str(fields["task_id"]))
        elif status is TaskStatus.WAITING and (
            fields.get("depends_on") or metadata.get(GRAPH_ROOT)
        ):
            scan.children.append(str(fields["task_id"]))
        elif batch_id and (
            status is TaskStatus.WAITING or (status in FINAL and metadata.get(BATCH_TRACKED))
        ):
            scan.batch_ids.add(str(batch_id))
        if status is not TaskStatus.WAITING and fields.get("dependents"):
            # a parent's last write, aged: the hook of that write may have died with its
            # writer (a child read before it was decided is not read again otherwise)
            scan.parents.extend(str(task_id) for task_id in fields["dependents"])

    async def rearm(self, task_ids: list[str]) -> int:
        """Delayed tasks the scan found scheduled: their producer may have died before
        arming the timer, so it is armed again (the same timer: harmless if it was there);
        one long past its due time is let go here (store/delayed.py)."""
        delayed = self._writer.delayed
        if delayed is None:
            return 0
        for task_id in task_ids:
            try:
                await delayed.repair(task_id, overdue_s=self.after_s)
            except PrsmError as exc:  # NATS away: written again when released, or next pass
                log.warning("scheduled_repair_failed", task_id=task_id, error=exc.message)
        return len(task_ids)

    async def classify(
        self, candidates: Iterable[Candidate]
    ) -> tuple[list[Candidate], list[Candidate]]:
        """(lost, not known yet); candidates whose message is queued are neither."""
        by_pair: dict[tuple[str, str], list[Candidate]] = {}
        for candidate in candidates:
            by_pair.setdefault((candidate.queue, candidate.band), []).append(candidate)
        lost: list[Candidate] = []
        unknown: list[Candidate] = []
        budget = self.scan_limit
        for (queue, band), group in sorted(by_pair.items()):
            walk = await self.walk(queue, band, limit=max(1, budget))
            budget -= walk.read
            for candidate in group:
                verdict = walk.lost(candidate)
                if verdict is True:
                    lost.append(candidate)
                elif verdict is None:
                    unknown.append(candidate)
        return lost, unknown

    async def walk(self, queue: str, band: str, *, limit: int) -> Walk:
        """The ids of the oldest ``limit`` work messages of (queue, band) in this partition."""
        subject = wire.work_subject(queue, band, self.partition)
        seen: set[str] = set()
        seq, until, read = 1, 0.0, 0
        while read < limit:
            try:
                with nats_errors_as_prsm(f"reading the work of {queue}"):
                    msg = await self._js.get_msg(
                        wire.work_stream(self.partition), seq=seq, subject=subject, next=True
                    )
            except nats.js.errors.NotFoundError:
                return Walk(frozenset(seen), read, until, complete=True)
            read += 1
            msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
            seen.add(msg_id.split(".", 1)[0])  # a band move publishes "<task id>.<rev>"
            until = msg.time.timestamp() if msg.time is not None else until
            seq = (msg.seq or seq) + 1
        return Walk(frozenset(seen), read, until, complete=False)

    async def republish(self, lost: list[Candidate]) -> int:
        """Cancel memory first, then (unchanged records only) their work messages again."""
        if not lost:
            return 0
        requests = self._store.requests
        await asyncio.gather(*(forbid_unclaimed_start(requests, c.task_id) for c in lost))
        await asyncio.sleep(PROPAGATION_S)
        done = 0
        for candidate in lost:
            try:
                record, rev = await self._store.get(candidate.task_id)
            except TaskNotFoundError:
                continue
            if rev != candidate.rev:
                continue  # written since: claimed, cancelled, edited; scanned again if need be
            try:
                await self._writer.republish(record, rev)
            except PrsmError as exc:  # the work stream full, NATS away: next pass again
                log.warning("repair_publish_failed", task_id=candidate.task_id, error=exc.message)
                self.deferred[candidate.task_id] = candidate
                continue
            done += 1
            log.warning(
                "task_repaired",
                task_id=candidate.task_id,
                queue=candidate.queue,
                band=candidate.band,
                lost_for_s=round(time.time() - candidate.written_at, 1),
            )
        return done
