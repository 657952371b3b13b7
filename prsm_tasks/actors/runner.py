"""Runner: one task from claim to final write.

claim (CAS enqueued -> processing, using the revision the work message carries) -> started
event -> handler under timeout, with lease renewal, cancel and coalesced progress -> final
CAS -> event -> ack (or nak with backoff for a retry). A lost CAS at any point means someone
else (a canceller, a peer that took over) owns the record now, and this runner steps aside.

Short tasks are claimed late: on the first delivery of a task's first work message the
handler starts at once, and the claim is written only if it is still running after
``claim_after_s``, reports progress, or ends in anything but success. A task that completes
sooner costs one record write, enqueued -> completed (its attempt recorded in it), checked
against the message's revision like a claim: a cancel or another owner that came first wins
and the result is dropped. A cancel signal stops such a handler like a claimed one.

The common path (claim, run, complete) works on the record's wire form (``models.Fields``)
and never builds a pydantic model: at thousands of tasks a second that is a third of the
node's CPU. The rarer outcomes (retry, failure, timeout, cancel, take-over) use TaskRecord.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.aio.msg import Msg

from prsm_tasks import models, wire
from prsm_tasks.actors.claiming import Claiming, claimed_by
from prsm_tasks.actors.progress import ProgressReporter
from prsm_tasks.actors.support import (
    RunnerDeps,
    encode_result,
    error_info,
    read_fields,
    retry_delay_s,
    stream_sequence,
)
from prsm_tasks.bus import Backoff
from prsm_tasks.errors import (
    InvalidTaskDataError,
    PrsmError,
    ServiceUnavailableError,
    TaskNotFoundError,
    TransitionConflictError,
    ValidationError,
)
from prsm_tasks.handlers import Cancelled, Fail, HandlerSpec, Retry, TaskContext
from prsm_tasks.models import FINAL_STATUSES, Fields, TaskRecord, TaskStatus
from prsm_tasks.store.events import completed_data, event_dict

log = structlog.get_logger("prsm.runner")

NO_HANDLER_RETRY_S = 5.0
FINAL_WRITE_PATIENCE_S = 120.0
HAND_BACK_CLAIM_WAIT_S = 5.0


class Runner(ProgressReporter, Claiming):
    def __init__(self, msg: Msg, deps: RunnerDeps) -> None:
        self.msg = msg
        self.deps = deps
        self.task_id = ""
        self.fields: Fields | None = None
        self.rev = 0
        self.ctx: TaskContext | None = None
        self.task: asyncio.Task[None] | None = None
        self.cancel_requested = False
        self.timed_out = False
        self.claim_written = False  # the record says processing, owned by this runner
        self.claim_lost = False  # a late claim found another owner: stop, write nothing
        self.rerun = False  # the record changed before the claim: run again as it is now
        self.started_sent = False
        self.handing_back = False  # shutdown: a late claim in flight stops retrying
        self._claim_task: asyncio.Task[bool] | None = None
        self.lease_renewed_at = time.monotonic()
        self._thread_future: concurrent.futures.Future[Any] | None = None

    @property
    def record(self) -> TaskRecord | None:
        """The current record as a model (for the rarer paths; the hot path uses fields)."""
        return None if self.fields is None else TaskRecord.model_validate(self.fields)

    @property
    def is_final(self) -> bool:
        return self.fields is None or self.fields["status"] in FINAL_STATUSES

    # --- signals from the node ------------------------------------------------------------

    def request_cancel(self) -> None:
        self.cancel_requested = True
        self._stop_handler()

    def _time_out(self) -> None:
        self.timed_out = True
        self._stop_handler()

    async def renew_lease(self) -> None:
        self.lease_renewed_at = time.monotonic()
        await self.msg.in_progress()

    def note_progress(self, value: float | None, text: str | None) -> None:
        if not self.claim_written:
            self._claim_late()  # progress belongs to a task the record shows running
        super().note_progress(value, text)

    # --- the run ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            rev, record_bytes, first_message = wire.decode_work(self.msg.data)
            fields = read_fields(record_bytes)
        except Exception as exc:  # not ours to run: a corrupt message must not loop forever
            log.error("work_message_unreadable", error=repr(exc))
            await self.msg.term()
            return
        self.task_id = task_id = fields["task_id"]
        deps = self.deps
        spec = deps.registry.lookup(fields["queue_name"], fields["task_type"])
        if spec is None:
            log.warning(
                "no_handler",
                task_id=task_id,
                queue=fields["queue_name"],
                task_type=fields["task_type"],
            )
            await self.msg.nak(delay=NO_HANDLER_RETRY_S)
            return
        other = deps.running.get(task_id)
        if other is not None:
            if stream_sequence(other.msg) == stream_sequence(self.msg):
                # our own lease lapsed and the message came back to us: keep the newer token
                other.msg = self.msg
            else:
                await self.msg.ack()  # a second work message for a task we are running
            return
        deps.running[task_id] = self  # before the claim, so no cancel signal is missed
        try:
            now = time.time()
            if self._may_start_unclaimed(fields, first_message, now):
                # claimed in memory only; _claim_late writes it if the handler runs long
                self.fields = models.claim_fields(
                    fields, node_id=deps.node_id, now=now, message_seq=stream_sequence(self.msg)
                )
                self.rev = rev
            elif not await self._claim(fields, rev):
                return
            await self._execute(spec)
            if self.rerun:  # the record changed before our first write; we own it as it is now
                self.rerun = self.started_sent = False
                self._claim_task = None  # settled: the claim of the record as it now is
                self._forget_progress()
                await self._execute(spec)
        finally:
            if deps.running.get(task_id) is self:
                del deps.running[task_id]

    async def _settle(self, settle: Callable[[], Awaitable[None]]) -> None:
        """ack or nak unless the message was settled already (a late claim may have)."""
        if not self.msg.is_acked:
            with contextlib.suppress(Exception):  # NATS away: the lease lapses instead
                await settle()

    def _forget_progress(self) -> None:
        self.progress_value = self.progress_text = self.pending_texts = None
        self.progress_dirty = self.progress_dirty_record = False

    def _stop_handler(self) -> None:
        if self.ctx is not None:
            self.ctx.mark_cancelled()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _execute(self, spec: HandlerSpec) -> None:
        fields = self.fields
        assert fields is not None
        deps = self.deps
        if self.claim_written:  # else once its first write is stored (_publish_started)
            await self._publish_started()
        if self.cancel_requested:  # the cancel arrived while we were claiming
            await self._finish_cancelled()
            return
        loop = asyncio.get_running_loop()
        self.ctx = TaskContext(
            task_id=self.task_id,
            queue=fields["queue_name"],
            task_type=fields["task_type"],
            attempt=len(fields["attempts"]),
            node_id=deps.node_id,
            report_progress=self.note_progress,
            loop=loop,
        )
        try:
            deps.registry.check_task_data(fields)  # the type's schema may have changed
            kwargs = spec.bind(fields["task_data"])
            self.task = asyncio.current_task()
            timer = loop.call_later(fields["timeout_seconds"], self._time_out)
            claim_timer = None
            if not self.claim_written:
                claim_timer = loop.call_later(deps.claim_after_s, self._claim_late)
            try:
                if spec.is_async:
                    result = await spec.func(self.ctx, **kwargs)
                else:
                    result = await self._run_in_thread(spec, kwargs)
            finally:
                # from here on neither the timer nor a cancel signal may interrupt our writes
                timer.cancel()
                if claim_timer is not None:
                    claim_timer.cancel()
                self.task = None
            if self.timed_out:  # the handler swallowed the cancellation; it still timed out
                raise asyncio.CancelledError
            result, result_bytes = encode_result(result, max_bytes=deps.max_result_bytes)
        except asyncio.CancelledError:
            if not (self.timed_out or self.cancel_requested or self.claim_lost or self.rerun):
                # the node is shutting down: the caller hands the task back now; a sync
                # handler's thread is left to finish in the pool (it cannot be stopped)
                self._thread_future = None
                raise
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                task.uncancel()
            if not await self._ensure_claimed():
                return
            if self.cancel_requested:
                await self._finish_cancelled()
            else:
                await self._retry_or_fail(
                    TimeoutError(f"task exceeded its timeout of {fields['timeout_seconds']} s"),
                    delay_s=None,
                    timed_out=True,
                )
            return
        except Cancelled as exc:
            if not await self._ensure_claimed():
                return
            if self.timed_out:  # raise_if_cancelled after our timeout: a timeout, not a cancel
                await self._retry_or_fail(exc, delay_s=None, timed_out=True)
            else:
                await self._finish_cancelled()
            return
        except Retry as exc:
            await self._retry_or_fail(exc, delay_s=exc.delay)
            return
        except (Fail, InvalidTaskDataError, ValidationError) as exc:
            await self._fail(exc)
            return
        except Exception as exc:  # the handler's own failure: it becomes the task's error
            await self._retry_or_fail(exc, delay_s=None)
            return
        finally:
            await self._wait_for_thread()
        await self._complete(result, result_bytes)

    async def _run_in_thread(self, spec: HandlerSpec, kwargs: dict[str, Any]) -> Any:
        call = functools.partial(spec.func, self.ctx, **kwargs)
        self._thread_future = self.deps.executor.submit(call)
        return await asyncio.wrap_future(self._thread_future)

    async def _wait_for_thread(self) -> None:
        """A thread cannot be killed: its slot stays taken until it notices and returns."""
        future, self._thread_future = self._thread_future, None
        if future is None or future.done():
            return
        if self.ctx is not None:
            self.ctx.mark_cancelled()
        await asyncio.shield(asyncio.wrap_future(future))

    # --- outcomes --------------------------------------------------------------------------

    async def _complete(self, result: Any, result_bytes: int) -> None:
        if self._claim_task is not None and not await asyncio.shield(self._claim_task):
            return  # a late claim found the task changed, or owned elsewhere
        # progress the pump has not sent yet goes out before the outcome's event
        await self.publish_pending_progress()
        fields = self.fields
        assert fields is not None
        done = models.complete_fields(self._with_progress(fields), result=result, now=time.time())
        if not await self._write(done):
            # not claimed yet, and the record changed since its message: if it is still to
            # run (new data, new priority) we own it now and run it again as it is
            if not self.claim_written and await self._claim_current():
                self.rerun = True
            return
        self.deps.counters["completed"] += 1
        await self._publish_started()  # a task that ran before its claim: only now
        await self._publish(
            "task_completed", completed_data(self.task_id, result, size_bytes=result_bytes)
        )
        await self._after_final_fields(done)
        await self.msg.ack()

    async def _fail(self, exc: BaseException, *, timed_out: bool = False) -> None:
        if not await self._ensure_claimed():
            return
        record = self._current_record()
        status = TaskStatus.TIMEOUT if timed_out else TaskStatus.FAILED
        info = error_info(exc)
        final = models.finish_unsuccessfully(record, status=status, error=info, now=time.time())
        if await self._write(models.record_fields(final)):
            self.deps.counters["failed"] += 1
            event = "task_timeout" if timed_out else "task_failed"
            await self._publish(event, {"error": info.message, "error_type": info.type})
            await self._after_final(final)
            await self.msg.ack()

    async def _retry_or_fail(
        self, exc: BaseException, *, delay_s: float | None, timed_out: bool = False
    ) -> None:
        if not await self._ensure_claimed():
            return
        await self.publish_pending_progress()
        record = self._current_record()
        if record.retry_count >= record.max_retries:
            await self._fail(exc, timed_out=timed_out)
            return
        deps = self.deps
        if delay_s is None:
            delay_s = retry_delay_s(
                record.retry_count, base_s=deps.retry_base_s, max_s=deps.retry_max_s
            )
        now = time.time()
        info = error_info(exc)
        outcome = models.AttemptOutcome.TIMEOUT if timed_out else models.AttemptOutcome.FAILED
        again = models.schedule_retry(
            record, error=info, now=now, not_before=now + delay_s, outcome=outcome
        )
        if await self._write(models.record_fields(again)):
            log.info(
                "task_retrying",
                task_id=record.task_id,
                attempt=record.attempt,
                delay_s=round(delay_s, 3),
                error=info.message,
            )
            await self._publish(
                "task_retrying",
                {
                    "error": info.message,
                    "error_type": info.type,
                    "delay_seconds": delay_s,
                    "retry_count": again.retry_count,
                },
                attempt_of=record,
            )
            await self.msg.nak(delay=delay_s)

    async def _finish_cancelled(self) -> None:
        """The canceller already wrote `cancelled` (cancel wins); make sure, then let go."""
        try:
            record, rev = await self.deps.store.get(self.task_id)
        except TaskNotFoundError:
            await self.msg.ack()
            return
        if not record.is_final:
            # cancelled by ctx without a recorded cancel (e.g. raise_if_cancelled misuse)
            cancelled = models.cancel(record, now=time.time(), reason="cancelled by its handler")
            try:
                await self.deps.store.put(cancelled, last_rev=rev)
            except TransitionConflictError:
                return
            self.fields = models.record_fields(cancelled)
            await self._publish("task_cancelled", {})
            record = cancelled
        await self._after_final(record)
        log.info("task_cancelled_while_running", task_id=self.task_id)
        await self.msg.ack()

    async def hand_back(self) -> None:
        """Shutdown: the task goes back to the queue for a peer, not counted as a retry."""
        self.handing_back = True
        claim = self._claim_task
        if claim is not None and not claim.done():
            # let a late claim in flight settle: cut off, it might be stored unknown to us
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(claim), HAND_BACK_CLAIM_WAIT_S)
        fields = self.fields
        if fields is None or not self.claim_written:  # not claimed: a peer may have it at once
            await self._settle(self.msg.nak)
            return
        if fields["status"] != TaskStatus.PROCESSING:
            return  # its outcome (a retry, a final state) was written and the message settled
        back = models.hand_back(self._current_record(), now=time.time())
        # cancelled meanwhile, or NATS is gone: then the lease lapses and a peer decides
        with contextlib.suppress(TransitionConflictError, ServiceUnavailableError):
            await self.deps.store.put(back, last_rev=self.rev)
        await self.msg.nak()

    # --- writes ----------------------------------------------------------------------------

    def _current_record(self) -> TaskRecord:
        record = self.record
        assert record is not None
        return (
            models.report_progress(record, value=self.progress_value, text=self.progress_text)
            if self._has_progress()
            else record
        )

    async def _write(self, new_fields: Fields) -> bool:
        """CAS the final (or retry) record; keep trying while NATS is away.

        False when we no longer own the task: cancelled meanwhile (cancel wins over a late
        completion), or a peer took it over after our lease lapsed. Then we neither write
        nor ack: the record already says what happened.
        """
        lock = self._write_lock
        if lock is not None:
            async with lock:
                return await self._write_unlocked(new_fields)
        return await self._write_unlocked(new_fields)

    async def _write_unlocked(self, new_fields: Fields) -> bool:
        backoff = Backoff(patience_s=FINAL_WRITE_PATIENCE_S)
        payload = wire.pack(new_fields)
        while True:
            try:
                try:
                    self.rev = await self.deps.store.put_encoded(
                        self.task_id,
                        payload,
                        last_rev=self.rev,
                        final=new_fields["status"] in FINAL_STATUSES,
                    )
                    self.fields = new_fields
                    return True
                except TransitionConflictError:
                    landed = await self._landed(payload) if backoff.paused else None
                    if landed is not None:
                        self.rev = landed
                        self.fields = new_fields
                        return True
                    if not self.claim_written:
                        return False  # never claimed: the caller decides what that means
                    if (rebased := await self._rebased(new_fields)) is not None:
                        new_fields, payload = rebased, wire.pack(rebased)
                        continue
                    return await self._lost_ownership()
            except ServiceUnavailableError as exc:
                if backoff.exhausted:
                    log.error("final_write_gave_up", task_id=self.task_id, error=exc.message)
                    return False  # unacked: the lease lapses and the task runs again
                log.warning("final_write_retrying", task_id=self.task_id, error=exc.message)
                await backoff.pause()

    async def _rebased(self, new_fields: Fields) -> Fields | None:
        """Still our attempt, but someone edited its metadata (all the task list API may
        change on a running task): the same outcome on top of the record as it now is."""
        try:
            record, rev = await self.deps.store.get(self.task_id)
        except TaskNotFoundError:
            return None
        if not claimed_by(record, self.deps.node_id, stream_sequence(self.msg)):
            return None
        self.rev = rev
        return {**new_fields, "metadata": record.metadata}

    async def _lost_ownership(self) -> bool:
        try:
            record, _ = await self.deps.store.get(self.task_id)
        except TaskNotFoundError:
            await self.msg.ack()
            return False
        if record.status is TaskStatus.CANCELLED:
            log.info("late_result_discarded", task_id=self.task_id)
            await self._after_final(record)
            await self.msg.ack()
        else:
            log.warning(
                "claim_lost",
                task_id=self.task_id,
                status=str(record.status),
                owner=record.worker_node,
            )
        return False

    async def _after_final_fields(self, fields: Fields) -> None:
        deps = self.deps
        if deps.after_final is not None and (deps.after_final_all or fields["batch_id"]):
            await self._after_final(TaskRecord.model_validate(fields))

    async def _after_final(self, record: TaskRecord) -> None:
        hook = self.deps.after_final
        if hook is None or not (self.deps.after_final_all or record.batch_id):
            return
        try:
            await hook(record)
        except Exception as exc:  # a hook must not undo a final write; the next redelivery retries
            log.warning("after_final_failed", task_id=record.task_id, error=repr(exc))

    async def _publish_started(self) -> None:
        """task_started, once the record shows the attempt (a task started before its claim
        is written sends it with its first write, so no one hears of a start that a cancel
        or another owner then voids)."""
        if not self.started_sent:
            self.started_sent = True
            await self._publish("task_started", {})

    async def _publish(
        self, event_type: str, data: dict[str, Any], *, attempt_of: TaskRecord | None = None
    ) -> None:
        fields = self.fields
        assert fields is not None
        attempts = len(attempt_of.attempts) if attempt_of is not None else len(fields["attempts"])
        worker = attempt_of.worker_node if attempt_of is not None else fields["worker_node"]
        try:
            await self.deps.events.publish(
                event_dict(
                    task_id=self.task_id,
                    queue_name=fields["queue_name"],
                    event_type=event_type,
                    attempt=attempts,
                    worker_node=worker,
                    now=time.time(),
                    data=data,
                )
            )
        except PrsmError as exc:
            log.warning(
                "event_publish_failed", task_id=self.task_id, event=event_type, error=exc.message
            )
