"""Enqueue and cancel: the writes every producer (native client, HTTP edge) shares.

Enqueue = create the record (``create``, never ``put``): the task is accepted once that is
acknowledged. Its work message (``Nats-Msg-Id`` = task id, carrying the create's revision)
follows at once; its answer is checked off the caller's path (store/work_sends.py). Inputs are
checked before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.js.kv import KeyValue

from prsm_tasks import models, wire
from prsm_tasks.bus import Backoff, nats_errors_as_prsm
from prsm_tasks.errors import (
    IdempotencyKeyTaskDeletedError,
    PrsmError,
    ServiceUnavailableError,
    TaskAlreadyFinishedError,
    TransitionConflictError,
    ValidationError,
    WorkStreamFullError,
)
from prsm_tasks.models import TaskRecord
from prsm_tasks.store.cancels import forbid_unclaimed_start
from prsm_tasks.store.delayed import DUE_SLACK_S, DelayedTasks
from prsm_tasks.store.events import EventPublisher, event_payload
from prsm_tasks.store.graph import TaskGraph, check_depends_on
from prsm_tasks.store.incomplete import incomplete
from prsm_tasks.store.options import TaskOptions, check_task_data, idempotency_digest
from prsm_tasks.store.tasks import TaskStore, encode_record, encode_update
from prsm_tasks.store.timers import Timers
from prsm_tasks.store.work_sends import WorkSender

log = structlog.get_logger("prsm.work")

# statuses whose task may yet be started by a node from a first work message
NOT_STARTED = frozenset(
    {models.TaskStatus.ENQUEUED, models.TaskStatus.WAITING, models.TaskStatus.SCHEDULED}
)
PUBLISH_ATTEMPTS = 5


def enqueued_data(record: TaskRecord) -> dict[str, Any]:
    """The data of a task's ``task_enqueued`` event: a delayed task's says when it is due."""
    if record.status is models.TaskStatus.SCHEDULED:
        return {"priority": record.priority, "scheduled_for": record.scheduled_for}
    return {"priority": record.priority}


def first_status(options: TaskOptions, *, delayed: bool) -> models.TaskStatus:
    """A child is held until its parents let it go (store/graph.py), a delayed task until
    its time, any other task is queued at once."""
    if options.depends_on:
        return models.TaskStatus.WAITING
    return models.TaskStatus.SCHEDULED if delayed else models.TaskStatus.ENQUEUED


@dataclass(frozen=True)
class PreparedTask:
    record: TaskRecord
    payload: bytes


class WorkWriter:
    """Creates task records and their work messages; cancels tasks."""

    def __init__(
        self,
        *,
        nc: NatsClient,
        store: TaskStore,
        events: EventPublisher,
        idempotency: KeyValue,
        max_task_data_bytes: int,
        after_final: Callable[[TaskRecord], Awaitable[None]] | None = None,
    ) -> None:
        self._nc = nc
        self._store = store
        self._events = events
        self._idempotency = idempotency
        self.max_task_data_bytes = max_task_data_bytes
        self.after_final = after_final
        self.sends = WorkSender(store)
        self.delayed: DelayedTasks | None = None  # set by whoever opens the timers
        self.graph = TaskGraph(store, self)  # tasks with depends_on (store/graph.py)

    @property
    def events(self) -> EventPublisher:
        return self._events

    @property
    def store(self) -> TaskStore:
        return self._store

    def use_timers(self, timers: Timers) -> None:
        """Accept delayed tasks: their timers are ``timers``."""
        self.delayed = DelayedTasks(self._store, self.sends, timers)

    async def close(self) -> None:
        """Wait for the work messages whose answers are still due (see store/work_sends.py)."""
        await self.sends.close()

    def prepare(
        self,
        queue: str,
        task_data: dict[str, Any],
        options: TaskOptions,
        *,
        user: str | None = None,
        tenant: str | None = None,
        task_id: str | None = None,
    ) -> PreparedTask:
        """Check the task data and build the record; writes nothing.

        ``queue`` and ``options`` come checked, once, where they came in: a request body or
        ``check_queue_name``, and the construction of TaskOptions.
        """
        check_task_data(task_data, max_bytes=self.max_task_data_bytes)
        # the queue becomes a subject: also one read from storage (a type stored before names
        # were checked in full) is checked before a record is written
        wire.check_queue_name(queue)
        now = time.time()
        # a task due now or in the past is enqueued as any other: a timer would fire at once
        delayed = options.scheduled_for is not None and options.scheduled_for > now + DUE_SLACK_S
        task_id = task_id or wire.new_task_id()
        if options.depends_on is not None:
            check_depends_on(options.depends_on, task_id)
        record = TaskRecord(
            task_id=task_id,
            queue_name=queue,
            task_type=options.task_type,
            task_data=task_data,
            priority=options.priority,
            user=user,
            tenant=tenant,
            idempotency_key=options.idempotency_key,
            created_at=now,
            enqueued_at=now,
            max_retries=options.max_retries,
            timeout_seconds=float(options.timeout_seconds),
            batch_id=options.batch_id,
            metadata=options.metadata or {},
            status=first_status(options, delayed=delayed),
            scheduled_for=options.scheduled_for,
            trace=options.trace,
            depends_on=list(options.depends_on or ()),
        )
        if delayed and self.delayed is None:
            raise ValidationError(
                "this process takes no delayed tasks (it has no timers)", field="eta"
            )
        return PreparedTask(record, encode_record(record))

    async def submit_queued(self, prepared: PreparedTask) -> TaskRecord:
        """``submit`` that returns once the work message is stored too (or raises its refusal)."""
        return await self.submit(prepared, await_work=True)

    async def submit(self, prepared: PreparedTask, *, await_work: bool = False) -> TaskRecord:
        """Write a prepared task; returns once its record is stored, numbered
        (``created_rev``, see ``models.task_number``), and its work message sent (its answer
        is followed up by ``self.sends``; while the stream refuses, it is awaited here).

        A failure after the record's create raises EnqueueIncompleteError, which names the
        task: the caller answers what was written, and the repair queues it.
        """
        record, payload = prepared.record, prepared.payload
        if record.depends_on:  # refused before anything is written
            await self.graph.check_parents(record.tenant, record.depends_on)
        if record.idempotency_key is not None:
            bound_id = await self._bind_idempotency_key(record)
            if bound_id != record.task_id:
                found = await self._store.find(bound_id)
                if found is not None:
                    return await self._resume_or_say(*found)
                # the first call died between binding the key and creating the record
                record = record.model_copy(update={"task_id": bound_id})
                payload = encode_record(record)
        try:
            rev = await self._store.create_encoded(record.task_id, payload)
        except TransitionConflictError:
            found = await self._store.find(record.task_id)
            if found is None:  # the key's task was created, then deleted (a purge marker)
                raise IdempotencyKeyTaskDeletedError(
                    f"the task {record.task_id} of this idempotency key was deleted; use a new key",
                    task_id=record.task_id,
                ) from None
            return await self._resume_or_say(*found)
        except ServiceUnavailableError as exc:  # its answer may be lost after it was stored
            raise incomplete(record.task_id, "unknown", exc) from exc
        if record.status is models.TaskStatus.WAITING:  # a child: its parents let it go
            try:
                await self.graph.attach([record])
            except ServiceUnavailableError as exc:
                raise incomplete(record.task_id, str(record.status), exc) from exc
            return record.model_copy(update={"created_rev": rev})
        try:
            # sent before the work, so task_enqueued comes before the node's task_started
            await self._events.publish_now(
                event_payload(record, "task_enqueued", now=time.time(), data=enqueued_data(record))
            )
            if record.status is models.TaskStatus.SCHEDULED:
                assert self.delayed is not None  # prepare refuses a delayed task otherwise
                await self.delayed.arm(record)  # its work message goes when the timer fires
            elif self.sends.trouble is None and not await_work:
                # accepted with its record; the message's answer is followed up off this path
                await self.sends.send_followed(record, rev, payload)
            else:  # the stream refuses lately: wait for its answer, to give the exact one
                await self._publish_created(record, rev, payload)
        except ServiceUnavailableError as exc:
            raise incomplete(record.task_id, str(record.status), exc) from exc
        # numbered as a read at its create revision would be: its number is known at once
        return record.model_copy(update={"created_rev": rev})

    async def _resume_or_say(self, record: TaskRecord, rev: int) -> TaskRecord:
        try:
            return await self._resume(record, rev)
        except ServiceUnavailableError as exc:
            raise incomplete(record.task_id, str(record.status), exc) from exc

    async def hold(self, prepared: PreparedTask) -> TaskRecord:
        """Store a prepared task as ``waiting``, with no work message: ``release`` sends it."""
        record = prepared.record.model_copy(update={"status": models.TaskStatus.WAITING})
        try:
            rev = await self._store.create(record)
        except TransitionConflictError:
            record, _ = await self._store.get(record.task_id)
            return record
        return record.model_copy(update={"created_rev": rev})  # numbered, as submit's

    async def release(self, task_id: str) -> TaskRecord | None:
        """waiting -> enqueued, then its work message; the released record, or None.

        Idempotent: a task found enqueued and never claimed gets its work message again (a
        caller that died between the two writes), which JetStream or the claim CAS absorbs.
        """
        record, rev = await self._store.get(task_id)
        while record.status is models.TaskStatus.WAITING:
            released = models.release(record, now=time.time())
            payload = encode_update(released, rev)
            try:
                new_rev = await self._store.put_encoded(task_id, payload, last_rev=rev)
            except TransitionConflictError:  # cancelled or released by a peer meanwhile
                record, rev = await self._store.get(task_id)
                continue
            await self._events.publish_now(
                event_payload(
                    released, "task_enqueued", now=time.time(), data=enqueued_data(released)
                )
            )
            if released.status is models.TaskStatus.SCHEDULED and self.delayed is not None:
                await self.delayed.arm(released)  # let go before its time: it waits for it
            else:
                await self._publish_work(released, new_rev, payload, first=True)
            return released
        await self._resume(record, rev)
        return None

    async def _resume(self, record: TaskRecord, rev: int) -> TaskRecord:
        """An earlier call created this record; make sure its work message exists.

        Publishing again is safe: within the duplicate window JetStream drops it by
        ``Nats-Msg-Id``, and after it a node drops a first delivery whose task is already
        claimed or finished.
        """
        if record.status is models.TaskStatus.SCHEDULED and self.delayed is not None:
            await self.delayed.arm(record)  # it may have died before arming: the same timer
        if record.status is models.TaskStatus.WAITING and record.depends_on:
            await self.graph.attach([record])  # it may have died before naming it to a parent
        if record.status is models.TaskStatus.ENQUEUED and not record.attempts:
            # its first message may be queued still: no node may start that one unclaimed
            # while another claims this one
            await forbid_unclaimed_start(self._store.requests, record.task_id)
            await self._publish_work(record, rev, encode_record(record), first=False)
        return record

    async def republish(self, record: TaskRecord, rev: int) -> None:
        """The work message of an enqueued record whose first one was lost (the repair).

        Never a first message: a node claims it before running it, so it is harmless next
        to the original if that one was not lost after all (the claim's compare-and-set
        lets one of them run it; the ownership rules drop the other).
        """
        await self._publish_work(record, rev, encode_record(record), first=False)

    async def _publish_created(self, record: TaskRecord, rev: int, payload: bytes) -> None:
        """Publish the work of a record just created, riding out a short NATS outage.

        The record exists now: giving up here would leave it `enqueued` with no message until
        the caller retries (with its idempotency key, the retry publishes it). The same
        ``Nats-Msg-Id`` makes a publish that did land and is sent again harmless.
        """
        backoff = Backoff()
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                await self._publish_work(record, rev, payload, first=True)
                return
            except WorkStreamFullError:
                await self._withdraw(record, rev)
                raise
            except ServiceUnavailableError:
                if attempt == PUBLISH_ATTEMPTS - 1:
                    raise
                await backoff.pause()

    async def _publish_work(
        self, record: TaskRecord, rev: int, payload: bytes, *, first: bool
    ) -> None:
        await self.sends.send(record, rev, payload, first=first)

    async def _withdraw(self, record: TaskRecord, rev: int) -> None:
        """The work stream refused a new task's message (it is full): undo the record, so
        the refusal leaves nothing behind, and free its idempotency key for a retry. Its
        ``task_enqueued`` event went out already: ``task_cancelled`` follows it, so event
        followers see the task end."""
        try:
            await self._store.withdraw(record.task_id, rev)
        except TransitionConflictError:  # a cancel got there first: it stands
            return
        if record.idempotency_key is not None:
            digest = idempotency_digest(record.tenant, record.user, record.idempotency_key)
            with nats_errors_as_prsm("freeing an idempotency key"):
                entry = await self._idempotency.get(digest)
                if entry.value == record.task_id.encode():
                    await self._idempotency.delete(digest, last=entry.revision)
        reason = "not accepted: the work stream is full"
        await self._events.publish(
            event_payload(
                record,
                "task_cancelled",
                now=time.time(),
                data={"was_processing": False, "reason": reason},
            )
        )
        log.warning("task_withdrawn", task_id=record.task_id, reason=reason)

    async def bound_task_id(self, record: TaskRecord) -> str | None:
        """The task an earlier enqueue bound ``record``'s idempotency key to, if any."""
        if record.idempotency_key is None:
            return None
        digest = idempotency_digest(record.tenant, record.user, record.idempotency_key)
        try:
            with nats_errors_as_prsm("reading an idempotency key"):
                entry = await self._idempotency.get(digest)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        return entry.value.decode() if entry.value else None

    async def _bind_idempotency_key(self, record: TaskRecord) -> str:
        """Bind the key (per tenant and user) to this task id; the id it is bound to."""
        digest = idempotency_digest(record.tenant, record.user, record.idempotency_key)
        try:
            with nats_errors_as_prsm("recording an idempotency key"):
                await self._idempotency.create(digest, record.task_id.encode())
            return record.task_id
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        with nats_errors_as_prsm("reading an idempotency key"):
            entry = await self._idempotency.get(digest)
        assert entry.value is not None
        return entry.value.decode()

    async def enqueue(
        self,
        queue: str,
        task_data: dict[str, Any],
        options: TaskOptions,
        *,
        user: str | None = None,
        tenant: str | None = None,
    ) -> TaskRecord:
        wire.check_queue_name(queue)
        return await self.submit(self.prepare(queue, task_data, options, user=user, tenant=tenant))

    async def cancel(
        self, task_id: str, *, reason: str = "cancelled by request"
    ) -> tuple[TaskRecord, bool]:
        """Cancel a task that is not final; returns (record, was_processing).

        The CAS makes cancel win over a late completion: once `cancelled` is stored, the
        node's completion write fails its revision check and its result is discarded.
        """
        record, rev = await self._store.get(task_id)
        remembered = False
        while True:
            if record.is_final:
                raise TaskAlreadyFinishedError(
                    f"Task {task_id} already finished with status {record.status}",
                    task_id=task_id,
                    status=str(record.status),
                )
            if not remembered and record.status in NOT_STARTED:
                # before the CAS: a node that takes its message from now on claims first
                await forbid_unclaimed_start(self._store.requests, task_id)
                remembered = True
            was_processing = record.status is models.TaskStatus.PROCESSING
            was_scheduled = record.status is models.TaskStatus.SCHEDULED
            cancelled = models.cancel(record, now=time.time(), reason=reason)
            try:
                await self._store.put(cancelled, last_rev=rev)
                break
            except TransitionConflictError:
                record, rev = await self._store.get(task_id)
        if was_scheduled and self.delayed is not None:
            await self.delayed.disarm(task_id)
        # also for a queued task: a node may have started it before writing its claim
        with nats_errors_as_prsm("signalling a cancel"):
            await self._nc.publish(wire.cancel_subject(task_id), b"")
        await self._events.publish(
            event_payload(
                cancelled,
                "task_cancelled",
                now=time.time(),
                data={"was_processing": was_processing, "reason": reason},
            )
        )
        if self.after_final is not None:
            try:
                await self.after_final(cancelled)
            except PrsmError as exc:  # the cancel stands; a later final write retries the hook
                log.warning("after_final_failed", task_id=task_id, error=exc.message)
        return cancelled, was_processing
