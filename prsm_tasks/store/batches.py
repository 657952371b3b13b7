"""Batches of a bulk enqueue: ``max_concurrent``, one-after-another, and ``fail_fast``.

The rules must hold across the network and survive any process restart, so they live in
records, not in a process: every task of a batch is created up front (the first ``limit`` of
them enqueued, the rest ``waiting`` with no work message) next to a ``BatchRecord`` in the
PRSM_BATCHES bucket. Whoever sees a batch task reach a final state (the node that wrote it, or
the writer that cancelled it) calls ``after_final``, which lets the next waiting task(s) go by
compare-and-set on the batch record, or, with ``fail_fast``, cancels the rest.

``after_final`` is idempotent: a redelivery that finds a final record calls it again, and a
call that died half way is finished by the next one (releasing a task twice is a no-op).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from prsm_tasks import wire
from prsm_tasks.bus import ERR_WRONG_LAST_SEQUENCE, nats_errors_as_prsm
from prsm_tasks.errors import (
    EnqueueIncompleteError,
    NotFoundError,
    ServiceUnavailableError,
    TaskAlreadyFinishedError,
    TaskNotFoundError,
    TransitionConflictError,
    ValidationError,
    WorkStreamFullError,
)
from prsm_tasks.messages import BatchRecord
from prsm_tasks.models import TaskRecord, TaskStatus
from prsm_tasks.store.events import EventPublisher
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.store.tasks import EXPECTED_LAST_SUBJECT_SEQ, TaskStore
from prsm_tasks.store.timers import Timers
from prsm_tasks.store.work import PreparedTask, WorkWriter

log = structlog.get_logger("prsm.batches")

MAX_BATCH_TASKS = 1000
WRITE_WINDOW = 128
CAS_ATTEMPTS = 64
BATCH_INDEX = "batch_index"
BATCH_TRACKED = "batch_tracked"


class BatchNotFoundError(NotFoundError):
    code = "batch_not_found"


@dataclass(frozen=True)
class PreparedBatch:
    batch: BatchRecord
    tasks: list[PreparedTask]


def batch_limit(total: int, *, parallel: bool, max_concurrent: int | None) -> int:
    """How many tasks of a batch may be enqueued or running at once."""
    if not parallel:
        return 1
    if max_concurrent is None:
        return total
    return max(1, min(total, max_concurrent))


class BatchCoordinator:
    def __init__(
        self,
        *,
        kv: KeyValue,
        js: JetStreamContext,
        store: TaskStore,
        writer: WorkWriter,
        final_ttl_s: float = 0.0,
    ) -> None:
        self._kv = kv
        self._js = js
        self._store = store
        self.writer = writer
        # a batch record expires this long after the write that says it is over (0: kept)
        self._final_ttl_s = final_ttl_s if final_ttl_s >= 1 else None

    @classmethod
    async def open(
        cls,
        *,
        nc: NatsClient,
        js: JetStreamContext,
        store: TaskStore,
        events: EventPublisher,
        max_task_data_bytes: int = 1_048_576,
        final_ttl_s: float = 0.0,
    ) -> BatchCoordinator:
        """A coordinator with its own WorkWriter, whose cancels come back to ``after_final``."""
        with nats_errors_as_prsm("opening the batch buckets"):
            kv = await js.key_value(wire.BATCHES_BUCKET)
            idempotency = await js.key_value(wire.IDEMPOTENCY_BUCKET)
        writer = WorkWriter(
            nc=nc,
            store=store,
            events=events,
            idempotency=idempotency,
            max_task_data_bytes=max_task_data_bytes,
        )
        writer.use_timers(Timers(js))
        coordinator = cls(kv=kv, js=js, store=store, writer=writer, final_ttl_s=final_ttl_s)
        writer.after_final = coordinator.after_final_all
        return coordinator

    async def after_final_all(self, record: TaskRecord) -> None:
        """Every hook on a final record: its batch, then its children (store/graph.py); the
        children are evaluated even if the batch's hook failed (the repair retries that)."""
        try:
            await self.after_final(record)
        finally:
            await self.writer.graph.after_final(record)

    # --- creating a batch ------------------------------------------------------------------

    def prepare(
        self,
        queue: str,
        items: Sequence[tuple[dict[str, Any], TaskOptions]],
        *,
        parallel: bool,
        max_concurrent: int | None,
        fail_fast: bool,
        user: str | None,
        tenant: str | None,
        field_prefix: str = "tasks",
    ) -> PreparedBatch:
        """Check every task (all or nothing) and build the records; writes nothing.

        ``queue`` and the options come checked (see ``WorkWriter.prepare``)."""
        total = len(items)
        limit = batch_limit(total, parallel=parallel, max_concurrent=max_concurrent)
        tracked = fail_fast or limit < total
        batch_id = wire.new_batch_id()
        prepared: list[PreparedTask] = []
        for index, (task_data, options) in enumerate(items):
            options = options.model_copy(
                update={
                    "batch_id": batch_id,
                    "metadata": {BATCH_INDEX: index, BATCH_TRACKED: tracked},
                }
            )
            try:
                prepared.append(
                    self.writer.prepare(queue, task_data, options, user=user, tenant=tenant)
                )
            except ValidationError as exc:
                if exc.field == "queue_name":
                    raise
                field = f"{field_prefix}[{index}].{exc.field or 'task_data'}"
                raise type(exc)(f"{field}: {exc.message}", field=field) from exc
        batch = BatchRecord(
            batch_id=batch_id,
            queue_name=queue,
            user=user,
            tenant=tenant,
            task_ids=[p.record.task_id for p in prepared],
            limit=limit,
            fail_fast=fail_fast,
            released=limit,
            created_at=time.time(),
        )
        return PreparedBatch(batch, prepared)

    async def submit(self, prepared: PreparedBatch) -> list[TaskRecord]:
        """Write the batch record, the waiting tasks, then the ones that may start now.

        In this order, so a task that finishes at once always finds its batch and the task
        it releases.
        """
        batch = prepared.batch
        # a batch nobody tracks (no fail_fast, all its tasks let go at once) is never read
        # again: it expires from the start
        tracked = batch.fail_fast or batch.limit < len(batch.task_ids)
        await self._write(batch, 0, over=not tracked)
        try:
            held = await self._write_all(prepared.tasks[batch.limit :], self.writer.hold)
            # awaiting each work message: a refusal ends the whole batch, not one task of it
            first = await self._write_all(prepared.tasks[: batch.limit], self.writer.submit_queued)
        except WorkStreamFullError as exc:
            # the stream filled while the batch was written (the edge checks first): every
            # task of it ends, so none waits for ever, and the answer says so
            reason = "not accepted: the work stream is full"
            await self._cancel_all(batch.task_ids[::-1], reason)  # waiting ones first
            raise WorkStreamFullError(
                f"the work stream filled while batch {batch.batch_id} was written: its tasks "
                "were cancelled; try again later",
                limit=exc.limit,
                batch_id=batch.batch_id,
            ) from exc
        except ServiceUnavailableError as exc:
            # some tasks are written: say which batch, so the caller looks them up; the repair
            # (``reconcile``) runs what was written, a task never written taking no slot
            raise EnqueueIncompleteError(
                f"batch {batch.batch_id} was written in part ({exc.message}); look its "
                "tasks up by id: those recorded run, the others were not written",
                status="unknown",
                batch_id=batch.batch_id,
                task_ids=batch.task_ids,
            ) from exc
        return first + held

    @staticmethod
    async def _write_all(
        tasks: list[PreparedTask], write: Callable[[PreparedTask], Awaitable[TaskRecord]]
    ) -> list[TaskRecord]:
        """Every write of a window ends before a failure is raised: none goes on unseen."""
        records: list[TaskRecord] = []
        for start in range(0, len(tasks), WRITE_WINDOW):
            chunk = tasks[start : start + WRITE_WINDOW]
            results = await asyncio.gather(*(write(task) for task in chunk), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            records.extend(result for result in results if isinstance(result, TaskRecord))
        return records

    async def get(self, batch_id: str) -> tuple[BatchRecord, int]:
        try:
            with nats_errors_as_prsm(f"reading batch {batch_id}"):
                entry = await self._kv.get(batch_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError) as exc:
            raise BatchNotFoundError(f"batch {batch_id} not found") from exc
        assert entry.value is not None and entry.revision is not None
        return BatchRecord.model_validate(wire.unpack(entry.value)), entry.revision

    async def _put(self, batch: BatchRecord, rev: int) -> None:
        """Write ``batch`` over revision ``rev``; one that is over (every task done, or
        fail_fast tripped) gets the retention as its TTL: it expires with its tasks."""
        over = batch.failed_task_id is not None or len(batch.done) >= len(batch.task_ids)
        await self._write(batch, rev, over=over)

    async def _write(self, batch: BatchRecord, rev: int, *, over: bool) -> None:
        """By compare-and-set on ``rev`` (0: create)."""
        ttl_s = self._final_ttl_s if over else None
        try:
            with nats_errors_as_prsm(f"writing batch {batch.batch_id}"):
                await self._js.publish(
                    f"$KV.{wire.BATCHES_BUCKET}.{batch.batch_id}",
                    wire.pack(batch.model_dump(mode="python")),
                    headers={EXPECTED_LAST_SUBJECT_SEQ: str(rev)},
                    msg_ttl=ttl_s,
                )
        except nats.js.errors.APIError as exc:
            if exc.err_code != ERR_WRONG_LAST_SEQUENCE:
                raise
            raise TransitionConflictError(f"batch {batch.batch_id} changed") from exc

    # --- the hook ----------------------------------------------------------------------------

    async def after_final(self, record: TaskRecord) -> None:
        """A batch task is final: release what may run now, or trip fail_fast."""
        if record.batch_id is None or not record.metadata.get(BATCH_TRACKED):
            return
        index = record.metadata.get(BATCH_INDEX)
        if not isinstance(index, int):
            return
        for _ in range(CAS_ATTEMPTS):
            try:
                batch, rev = await self.get(record.batch_id)
            except BatchNotFoundError:
                return
            if batch.failed_task_id is not None:
                if batch.failed_task_id == record.task_id:
                    await self._cancel_rest(batch)  # a repeated call finishes the sweep
                return
            failed = record.status in (TaskStatus.FAILED, TaskStatus.TIMEOUT)
            if batch.fail_fast and failed:
                tripped = batch.model_copy(
                    update={"failed_task_id": record.task_id, "done": [*batch.done, index]}
                )
                try:
                    await self._put(tripped, rev)
                except TransitionConflictError:
                    continue
                log.info("batch_fail_fast", batch_id=batch.batch_id, failed=record.task_id)
                await self._cancel_rest(tripped)
                return
            try:
                await self._advance(batch, rev, index)
            except TransitionConflictError:
                continue  # another task of the batch finished at the same time: re-read
            return
        log.warning("batch_advance_gave_up", batch_id=record.batch_id, task_id=record.task_id)

    async def reconcile(self, batch_id: str) -> None:
        """The repair of a stalled batch: run the hook of every task that ended without it
        (its node died between the final write and the hook), count the tasks a failed bulk
        never wrote as done (they take no slot), and finish a fail_fast cancel cut short."""
        try:
            batch, _ = await self.get(batch_id)
        except BatchNotFoundError:
            return
        if batch.failed_task_id is not None:
            await self._cancel_rest(batch)
            return
        for index in range(min(batch.released, len(batch.task_ids))):
            if index in batch.done:
                continue
            try:
                record, _ = await self._store.get(batch.task_ids[index])
            except TaskNotFoundError:
                await self._skip_missing(batch_id, index)
                continue
            if record.is_final:
                await self.after_final(record)

    async def _skip_missing(self, batch_id: str, index: int) -> None:
        for _ in range(CAS_ATTEMPTS):
            try:
                batch, rev = await self.get(batch_id)
            except BatchNotFoundError:
                return
            try:
                await self._advance(batch, rev, index)
                log.info("batch_task_never_written", batch_id=batch_id, index=index)
                return
            except TransitionConflictError:
                continue

    async def _advance(self, batch: BatchRecord, rev: int, index: int) -> None:
        """Mark ``index`` done and let waiting tasks go while fewer than ``limit`` run."""
        done = set(batch.done)
        if index in done and batch.released >= len(batch.task_ids):
            return
        done.add(index)
        pointer = batch.released
        in_flight = sum(1 for i in range(pointer) if i not in done)
        while pointer < len(batch.task_ids) and in_flight < batch.limit:
            if pointer not in done:
                released = await self.writer.release(batch.task_ids[pointer])
                if released is None and await self._is_final(batch.task_ids[pointer]):
                    done.add(pointer)  # cancelled while it waited: it takes no slot
                else:
                    in_flight += 1
            pointer += 1
        if pointer == batch.released and done == set(batch.done):
            return
        await self._put(batch.model_copy(update={"done": sorted(done), "released": pointer}), rev)

    async def _is_final(self, task_id: str) -> bool:
        try:
            record, _ = await self._store.get(task_id)
        except TaskNotFoundError:
            return True
        return record.is_final

    async def _cancel_rest(self, batch: BatchRecord) -> None:
        reason = f"batch {batch.batch_id}: task {batch.failed_task_id} failed (fail_fast)"
        others = [tid for tid in batch.task_ids if tid != batch.failed_task_id]
        await self._cancel_all(others, reason)

    async def _cancel_all(self, others: list[str], reason: str) -> None:
        for start in range(0, len(others), WRITE_WINDOW):
            chunk = others[start : start + WRITE_WINDOW]
            await asyncio.gather(*(self._cancel_quietly(tid, reason) for tid in chunk))

    async def _cancel_quietly(self, task_id: str, reason: str) -> None:
        with contextlib.suppress(TaskAlreadyFinishedError, TaskNotFoundError):
            await self.writer.cancel(task_id, reason=reason)
