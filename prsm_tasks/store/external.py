"""External workers: tasks run by services that are not peer nodes, over plain HTTP, under
the rules peer nodes follow.

A claim pulls one work message (no-wait, critical band first) from the queue's durable
consumers, the very ones peer nodes pull from, and claims the record by compare-and-set:
``enqueued -> processing`` on ``external:<worker_id>``, or, for a message JetStream delivers
again because a lease lapsed, a take-over that counts the lost attempt (as a peer does).

It then holds the message instead of acking it: a nak with ``delay = lease`` keeps it pending
on that consumer, so no peer and no other claim gets it, and JetStream hands it out again
when the lease lapses. The message's ack subject is kept in the record
(``metadata.external``), so any edge, also after a restart, renews the lease (another delayed
nak) or lets the message go (an ack) when the task ends. Lease timers are JetStream's; there
is no sweeper to run.

A task started without a claim (``PUT status=running`` on a pending task) is first looked
for among the next messages of its band; if it is not among them, only its record is claimed
and no message is held: that claim has no timer (see docs/task_types.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from prsm_tasks import models, wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.errors import (
    ClaimLostError,
    IllegalTransitionError,
    TaskNotFoundError,
    TransitionConflictError,
)
from prsm_tasks.models import BANDS_HIGH_TO_LOW, Band, ErrorInfo, TaskRecord, TaskStatus
from prsm_tasks.ownership import (
    EXTERNAL_PREFIX,
    LEASE_KEY,
    Lease,
    Verdict,
    held_by,
    judge,
    with_lease,
    worker_node,
)
from prsm_tasks.store.cancels import forbid_unclaimed_start, signal_changed
from prsm_tasks.store.events import EventPublisher, completed_data, event_payload
from prsm_tasks.store.pulls import PULL_TIMEOUT_S, ClaimConsumers, Pulls
from prsm_tasks.store.tasks import TaskStore

__all__ = ["EXTERNAL_PREFIX", "LEASE_KEY", "ExternalWork", "Lease", "with_lease", "worker_node"]

log = structlog.get_logger("prsm.external")

SCAN_LIMIT = 32  # messages one claim looks at before it answers "nothing for you"
SETTLE_TIMEOUT_S = 5.0
CAS_ATTEMPTS = 16

Eligible = Callable[[TaskRecord], bool]


class ExternalWork:
    def __init__(
        self,
        *,
        nc: NatsClient,
        js: JetStreamContext,
        store: TaskStore,
        events: EventPublisher,
        after_final: Callable[[TaskRecord], Awaitable[None]] | None = None,
        consumer_idle_s: float = 3600.0,
        after_start: Callable[[TaskRecord], Awaitable[None]] | None = None,
    ) -> None:
        self._nc = nc
        self._js = js
        self._store = store
        self._events = events
        self._after_final = after_final
        self._after_start = after_start  # a claim of a task with children (store/graph.py)
        self._consumers = ClaimConsumers(js, idle_s=consumer_idle_s, partitions=store.partitions)

    # --- settling messages -----------------------------------------------------------------

    async def _send(self, subject: str, payload: bytes) -> None:
        """An ack or nak to a message's ack subject, flushed (a plain publish may be lost)."""
        with nats_errors_as_prsm("settling a work message"):
            await self._nc.publish(subject, payload)
            await self._nc.flush(timeout=SETTLE_TIMEOUT_S)

    async def hold(self, ack_subject: str, lease_s: float) -> None:
        """Keep the message pending on its consumer for ``lease_s``, then let it go again."""
        delay_ns = int(lease_s * 1e9)
        await self._send(ack_subject, b'-NAK {"delay": %d}' % delay_ns)

    async def release(self, lease: Lease | None) -> None:
        """The task ended: remove its work message (a lost ack only brings it back later,
        to whoever drops it as final)."""
        if lease is None or lease.ack_subject is None:
            return
        try:
            await self._send(lease.ack_subject, b"+ACK")
        except Exception as exc:  # the message returns after the lease and is dropped as final
            log.warning("external_release_failed", error=repr(exc))

    # --- claiming ----------------------------------------------------------------------------

    async def claim(
        self,
        queue: str,
        *,
        eligible: Eligible,
        worker_id: str,
        lease_s: float,
        bands: Sequence[Band] = BANDS_HIGH_TO_LOW,
        partitions: Sequence[int] | None = None,
    ) -> TaskRecord | None:
        """One task of ``queue`` now processing on this worker, or None when there is none.

        Messages of tasks this caller may not take (another tenant's, another type's) are
        kept until the claim ends and then handed back at once, so the next pull of the
        same band sees the next message, not the same one again.
        """
        await self._consumers.ensure(queue)
        skipped: list[Msg] = []
        scanned = 0
        try:
            async with Pulls(self._nc) as pulls:
                for band in bands:
                    while scanned < SCAN_LIMIT:
                        msg = await self._consumers.pull(pulls, queue, band, partitions)
                        if msg is None:
                            break
                        scanned += 1
                        claimed = await self._inspect(
                            msg, eligible=eligible, worker_id=worker_id, lease_s=lease_s
                        )
                        if claimed is True:
                            skipped.append(msg)
                        elif claimed is not None:
                            return claimed
        finally:
            for msg in skipped:
                try:
                    await msg.nak()
                except Exception as exc:  # lost: JetStream redelivers after its ack wait
                    log.warning("external_skip_nak_failed", error=repr(exc))
        return None

    async def _inspect(
        self, msg: Msg, *, eligible: Eligible, worker_id: str, lease_s: float
    ) -> TaskRecord | bool | None:
        """The claimed record; True: not for this caller (keep it aside); None: settled."""
        try:
            _, record_bytes, _ = wire.decode_work(msg.data)
            task_id = str(wire.unpack(record_bytes)["task_id"])
        except Exception as exc:  # not ours to run: a corrupt message must not loop forever
            log.error("work_message_unreadable", error=repr(exc))
            await msg.term()
            return None
        seq, deliveries = msg.metadata.sequence.stream, msg.metadata.num_delivered
        for _ in range(CAS_ATTEMPTS):
            try:
                record, rev = await self._store.get(task_id)
            except TaskNotFoundError:
                await msg.ack()  # deleted: nothing to run
                return None
            now = time.time()
            judgement = judge(record, message_seq=seq, deliveries=deliveries, now=now)
            if judgement.verdict in (Verdict.STALE, Verdict.DUPLICATE):
                await msg.ack()  # the same rules as a peer node's (prsm_tasks/ownership.py)
                return None
            if not eligible(record):
                return True
            if judgement.verdict is Verdict.NOT_DUE:
                await msg.nak(delay=judgement.delay_s)
                return None
            owner = worker_node(worker_id)
            if judgement.verdict is Verdict.CLAIM:
                claimed = models.claim(record, node_id=owner, now=now, message_seq=seq)
            else:
                lease = Lease.of(record)
                if lease is not None and lease.expires_at > now:
                    await msg.nak(delay=lease.expires_at - now)  # renewed meanwhile: still held
                    return None
                # a lease (a node's or a worker's) lapsed: take it over, counting the lost try
                claimed = models.take_over(record, node_id=owner, now=now, message_seq=seq)
            held = Lease(
                worker_id=worker_id,
                lease_s=lease_s,
                expires_at=now + lease_s,
                ack_subject=msg.reply,
            )
            claimed = with_lease(claimed, held if claimed.status is TaskStatus.PROCESSING else None)
            try:
                await self._store.put(claimed, last_rev=rev)
            except TransitionConflictError:
                continue  # a peer, a canceller or another claim got there first: look again
            if claimed.status is TaskStatus.FAILED:  # lost once too often (take_over)
                await self._publish_final(claimed, None)
                await msg.ack()
                return None
            # the claim is stored; until this nak the message is ours by the pull itself
            await self.hold(msg.reply, lease_s)
            await self._events.publish(event_payload(claimed, "task_started", now=time.time()))
            log.info("external_claim", task_id=task_id, worker_id=worker_id, lease_s=lease_s)
            await self._started(claimed)
            return claimed
        await msg.nak()
        return None

    async def start(self, record: TaskRecord, *, worker_id: str, lease_s: float) -> TaskRecord:
        """pending -> running without a claim call: find its message (one band, a short
        scan) and claim it; else claim the record alone, with no message held."""
        task_id = record.task_id
        claimed = await self.claim(
            record.queue_name,
            eligible=lambda candidate: candidate.task_id == task_id,
            worker_id=worker_id,
            lease_s=lease_s,
            bands=(record.band,),
            partitions=(self._store.partition_of(task_id),),
        )
        if claimed is not None:
            return claimed

        def claim_record(current: TaskRecord) -> TaskRecord:
            now = time.time()
            claimed = models.claim(current, node_id=worker_node(worker_id), now=now)
            lease = Lease(
                worker_id=worker_id, lease_s=lease_s, expires_at=now + lease_s, ack_subject=None
            )
            return with_lease(claimed, lease)

        # its work message is still queued, and nodes must not start it from its stale copy
        await forbid_unclaimed_start(self._store.requests, task_id)
        started, _ = await self._store.transition(task_id, claim_record)
        await signal_changed(self._nc, task_id)  # a node that started it unclaimed stops
        await self._events.publish(event_payload(started, "task_started", now=time.time()))
        await self._started(started)
        return started

    async def _started(self, record: TaskRecord) -> None:
        if self._after_start is None or not record.dependents:
            return
        try:
            await self._after_start(record)
        except Exception as exc:  # the claim stands; the repair evaluates the children
            log.warning("after_start_failed", task_id=record.task_id, error=repr(exc))

    # --- while it runs, and its end --------------------------------------------------------

    async def renew(
        self, task_id: str, *, worker_id: str | None, lease_s: float | None
    ) -> TaskRecord:
        for _ in range(CAS_ATTEMPTS):
            record, rev = await self._store.get(task_id)
            lease = self.held_by(record, worker_id)
            now = time.time()
            if lease.ack_subject is not None and lease.expires_at <= now:
                raise ClaimLostError(
                    f"the lease on task {task_id} lapsed; claim it again", task_id=task_id
                )
            seconds = lease_s or lease.lease_s
            if lease.ack_subject is not None:
                await self.hold(lease.ack_subject, seconds)  # the timer first, then the record
            renewed = Lease(
                worker_id=lease.worker_id,
                lease_s=seconds,
                expires_at=now + seconds,
                ack_subject=lease.ack_subject,
            )
            try:
                await self._store.put(with_lease(record, renewed), last_rev=rev)
            except TransitionConflictError:
                continue
            return with_lease(record, renewed)
        raise TransitionConflictError(f"task {task_id} kept changing", task_id=task_id)

    @staticmethod
    def held_by(record: TaskRecord, worker_id: str | None) -> Lease:
        """The external claim on a running task (and that ``worker_id`` holds it, if given)."""
        return held_by(record, worker_id)

    async def finish(
        self,
        task_id: str,
        *,
        status: TaskStatus,
        result: Any,
        error_message: str | None,
        worker_id: str | None,
    ) -> TaskRecord:
        """running (or pending: claimed on the way) -> completed or failed, by CAS.

        A pending task's work message is still queued: it is remembered as ended before the
        CAS (a node that takes that message claims first, and finds it final), and a node
        that started it unclaimed a moment before is told to stop.
        """
        remembered = False
        for _ in range(CAS_ATTEMPTS):
            record, rev = await self._store.get(task_id)
            now = time.time()
            lease: Lease | None = None
            if record.status is TaskStatus.ENQUEUED:
                if not remembered:
                    await forbid_unclaimed_start(self._store.requests, task_id)
                    remembered = True
                current = models.claim(record, node_id=worker_node(worker_id or "api"), now=now)
            elif record.status is TaskStatus.PROCESSING or record.is_final:
                lease = self.held_by(record, worker_id)
                current = record
            else:
                raise IllegalTransitionError(
                    f"task {task_id} is {record.status}; it cannot end before it is enqueued",
                    task_id=task_id,
                )
            final = self._final(current, status=status, result=result, message=error_message)
            try:
                await self._store.put(with_lease(final, None), last_rev=rev)
            except TransitionConflictError:
                continue
            await self.release(lease)
            if remembered:  # ended before it started: one running it unclaimed stops
                with nats_errors_as_prsm("signalling a cancel"):
                    await self._nc.publish(wire.cancel_subject(task_id), b"")
            await self._publish_final(final, result)
            return final
        raise TransitionConflictError(f"task {task_id} kept changing", task_id=task_id)

    @staticmethod
    def _final(
        record: TaskRecord, *, status: TaskStatus, result: Any, message: str | None
    ) -> TaskRecord:
        now = time.time()
        if status is TaskStatus.COMPLETED:
            return models.complete(record, result=result, now=now)
        error = ErrorInfo(type="ExternalWorkerError", message=message or "failed by its worker")
        failed = models.finish_unsuccessfully(
            record, status=TaskStatus.FAILED, error=error, now=now
        )
        return failed.model_copy(update={"result": result}) if result is not None else failed

    async def _publish_final(self, record: TaskRecord, result: Any) -> None:
        if record.status is TaskStatus.COMPLETED:
            data = completed_data(record.task_id, result)
            await self._events.publish(
                event_payload(record, "task_completed", now=time.time(), data=data)
            )
        else:
            error = record.error
            await self._events.publish(
                event_payload(
                    record,
                    "task_failed",
                    now=time.time(),
                    data={
                        "error": error.message if error else "failed",
                        "error_type": error.type if error else "Error",
                    },
                )
            )
        if self._after_final is not None:
            try:
                await self._after_final(record)
            except Exception as exc:  # the final write stands; a later one retries the hook
                log.warning("after_final_failed", task_id=record.task_id, error=repr(exc))

    async def republish(self, record: TaskRecord, rev: int) -> None:
        """A pending task moved to another band (its priority changed): a work message there.

        The old message stays; whichever is pulled first claims the task, the other is
        then dropped as a message of a claimed task.
        """
        reply = await self._store.requests.request(
            self._store.work_subject(record),
            wire.encode_work(rev, wire.pack(models.record_fields(record)), first=False),
            headers={"Nats-Msg-Id": f"{record.task_id}.{rev}"},
            timeout_s=PULL_TIMEOUT_S,
        )
        if "error" in json.loads(reply):
            log.warning("republish_refused", task_id=record.task_id, reply=reply[:200])
            return
