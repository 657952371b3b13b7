"""Runner: one attempt of one task, from its work message to the message's ack or nak.

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

The runner executes the handler; the attempt's state and its transitions are attempt.py;
the writes are claims.py and outcomes.py, shared by every runner of the node.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
from dataclasses import dataclass
from typing import Any

import pydantic
import structlog
from nats.aio.msg import Msg

from prsm_tasks import models, wire
from prsm_tasks.actors.announce import Announcer
from prsm_tasks.actors.attempt import Attempt, Phase, Stop
from prsm_tasks.actors.checkpoints import Checkpointer
from prsm_tasks.actors.claims import Claims
from prsm_tasks.actors.delivery import Delivery
from prsm_tasks.actors.logs import LogPump
from prsm_tasks.actors.metering import Meter, Reading, in_thread, measured
from prsm_tasks.actors.options import NodeOptions
from prsm_tasks.actors.outcomes import Outcomes
from prsm_tasks.actors.progress import ProgressPump, ProgressReporter
from prsm_tasks.errors import InvalidTaskDataError, ValidationError
from prsm_tasks.handlers import Cancelled, Fail, HandlerRegistry, HandlerSpec, Retry, TaskContext
from prsm_tasks.models import Fields, TaskRecord
from prsm_tasks.store.tasks import TaskStore
from prsm_tasks.trace import attempt_span

log = structlog.get_logger("prsm.runner")

NO_HANDLER_RETRY_S = 5.0
HAND_BACK_CLAIM_WAIT_S = 5.0


def encode_result(result: Any, *, max_bytes: int) -> tuple[Any, int]:
    """The result as plain data and its encoded size (checked against ``max_bytes``)."""
    if isinstance(result, pydantic.BaseModel):
        result = result.model_dump(mode="json")
    encoded = wire.pack_checked(result, what="handler result", field="result", max_bytes=max_bytes)
    return result, len(encoded)


def read_fields(record_bytes: bytes, rev: int) -> Fields:
    """The record stored at ``rev`` as plain data, numbered (every write of the run derives
    from it, see ``store.tasks``); a record of another version is validated first."""
    fields = wire.unpack(record_bytes)
    if fields.get("v") != models.RECORD_VERSION:
        fields = models.record_fields(TaskRecord.model_validate(fields))
    return models.numbered(fields, rev)


@dataclass(kw_only=True)
class RunnerDeps:
    """What every runner of one node shares: the parts, and the node's running attempts."""

    node_id: str
    options: NodeOptions
    store: TaskStore
    registry: HandlerRegistry
    executor: concurrent.futures.ThreadPoolExecutor
    running: dict[str, Runner]
    claims: Claims
    outcomes: Outcomes
    announcer: Announcer
    pump: ProgressPump
    logs: LogPump | None = None  # captures what handlers log (None: the node's log only)
    meter: Meter | None = None  # measures each attempt (None: metrics off)
    checkpoints: Checkpointer | None = None  # ctx.checkpoint (None: handlers cannot save)


class Runner:
    def __init__(self, msg: Msg, deps: RunnerDeps) -> None:
        self.deps = deps
        self.attempt = Attempt(Delivery(msg), interrupt=self._stop_handler)
        self.ctx: TaskContext | None = None
        self.task: asyncio.Task[None] | None = None
        self._thread_future: concurrent.futures.Future[Any] | None = None

    @property
    def task_id(self) -> str:
        return self.attempt.task_id

    # --- signals from the node ------------------------------------------------------------

    def request_cancel(self) -> None:
        self.attempt.stop_for(Stop.CANCEL)
        self._stop_handler()

    def claim_now(self) -> None:
        """Its record changed (an edit): a run started before its claim claims it now."""
        self.deps.claims.claim_late(self.attempt)

    def note_progress(self, value: float | None, text: str | None) -> None:
        attempt = self.attempt
        # progress belongs to a task the record shows running
        self.deps.claims.claim_late(attempt)
        if attempt.progress is None:
            deps = self.deps
            attempt.progress = ProgressReporter(
                attempt, store=deps.store, announcer=deps.announcer, pump=deps.pump
            )
        attempt.progress.note(value, text)

    def _time_out(self) -> None:
        self.attempt.stop_for(Stop.TIMEOUT)
        self._stop_handler()

    def _stop_handler(self) -> None:
        if self.ctx is not None:
            self.ctx.mark_cancelled()
        if self.task is not None and not self.task.done():
            self.task.cancel()

    # --- the run ---------------------------------------------------------------------------

    async def run(self) -> None:
        """The whole attempt; a shutdown (our cancellation) hands the task back."""
        try:
            await self._run()
        except asyncio.CancelledError:
            if self.attempt.stop is not Stop.CANCEL:
                try:
                    await self.hand_back()
                except Exception as exc:  # shutting down: the lease lapses and a peer decides
                    log.warning("hand_back_failed", task_id=self.task_id, error=repr(exc))
        finally:
            if self.deps.logs is not None:
                await self.deps.logs.settle(self.attempt)
            self.attempt.move(Phase.SETTLED)
            if self.attempt.progress is not None:
                self.deps.pump.forget(self.attempt.progress)

    async def _run(self) -> None:
        attempt = self.attempt
        delivery = attempt.delivery
        try:
            rev, record_bytes, first_message = wire.decode_work(delivery.msg.data)
            fields = read_fields(record_bytes, rev)
        except Exception as exc:  # not ours to run: a corrupt message must not loop forever
            log.error("work_message_unreadable", error=repr(exc))
            await delivery.term()
            return
        attempt.task_id = task_id = fields["task_id"]
        deps = self.deps
        spec = deps.registry.lookup(fields["queue_name"], fields["task_type"])
        if spec is None:
            log.warning(
                "no_handler",
                task_id=task_id,
                queue=fields["queue_name"],
                task_type=fields["task_type"],
            )
            await delivery.nak(NO_HANDLER_RETRY_S)
            return
        other = deps.running.get(task_id)
        if other is not None:
            if other.attempt.delivery.seq == delivery.seq:
                # our own lease lapsed and the message came back to us: keep the newer token
                other.attempt.delivery.replace(delivery.msg)
            else:
                await delivery.ack()  # a second work message for a task we are running
            return
        deps.running[task_id] = self  # before the claim, so no cancel signal is missed
        try:
            if deps.claims.may_start_unclaimed(attempt, fields, first_message):
                deps.claims.hold_unclaimed(attempt, fields, rev)
            elif not await deps.claims.claim(attempt, fields, rev):
                return
            await self._execute(spec)
            if attempt.phase is Phase.CHANGED:
                # the record changed before our first write; we own it as it is now
                await self._start_over()
                await self._execute(spec)
        finally:
            if deps.running.get(task_id) is self:
                del deps.running[task_id]

    async def _start_over(self) -> None:
        attempt = self.attempt
        if self.deps.logs is not None:
            await self.deps.logs.settle(attempt)  # the first run's lines, as it ran
        attempt.move(Phase.CLAIMED)
        attempt.started_sent = False
        attempt.claim_task = None  # settled: the claim of the record as it now is
        if attempt.progress is not None:
            self.deps.pump.forget(attempt.progress)
            attempt.progress = None

    async def hand_back(self) -> None:
        """Shutdown: the task goes back to the queue for a peer, not counted as a retry."""
        attempt = self.attempt
        attempt.stop_for(Stop.SHUTDOWN)  # a late claim in flight stops retrying
        claim = attempt.claim_task
        if claim is not None and not claim.done():
            # let a late claim in flight settle: cut off, it might be stored unknown to us
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(claim), HAND_BACK_CLAIM_WAIT_S)
        await self.deps.outcomes.hand_back(attempt)

    # --- the handler -----------------------------------------------------------------------

    async def _execute(self, spec: HandlerSpec) -> None:
        attempt = self.attempt
        deps = self.deps
        outcomes = deps.outcomes
        if attempt.owns_record:  # else once its first write is stored (Announcer.started)
            await deps.announcer.started(attempt)
        if attempt.stop is Stop.CANCEL:  # the cancel arrived while we were claiming
            await outcomes.finish_cancelled(attempt)
            return
        try:
            result = await self._call(spec)
            result, result_bytes = encode_result(result, max_bytes=deps.options.max_result_bytes)
        except asyncio.CancelledError:
            await self._after_stop()
            return
        except Cancelled as exc:
            if not await deps.claims.ensure_claimed(attempt):
                return
            if attempt.stop is Stop.TIMEOUT:  # raise_if_cancelled after our timeout
                await outcomes.retry_or_fail(attempt, exc, delay_s=None, timed_out=True)
            else:
                await outcomes.finish_cancelled(attempt)
            return
        except Retry as exc:
            await outcomes.retry_or_fail(attempt, exc, delay_s=exc.delay)
            return
        except (Fail, InvalidTaskDataError, ValidationError) as exc:
            await outcomes.fail(attempt, exc)
            return
        except Exception as exc:  # the handler's own failure: it becomes the task's error
            await outcomes.retry_or_fail(attempt, exc, delay_s=None)
            return
        finally:
            await self._wait_for_thread()
        await outcomes.complete(attempt, result, result_bytes)

    async def _call(self, spec: HandlerSpec) -> Any:
        """The handler under its timeout, with the late claim's timer while unclaimed."""
        attempt = self.attempt
        fields = attempt.fields
        assert fields is not None
        deps = self.deps
        loop = asyncio.get_running_loop()
        number = len(fields["attempts"])
        logs = deps.logs
        self.ctx = TaskContext(
            task_id=attempt.task_id,
            queue=fields["queue_name"],
            task_type=fields["task_type"],
            attempt=number,
            node_id=deps.node_id,
            report_progress=self.note_progress,
            loop=loop,
            open_logs=(lambda: logs.open(attempt, number)) if logs is not None else None,
            trace=attempt_span(fields.get("trace")),
        )
        checkpoints = deps.checkpoints
        if checkpoints is not None:
            self.ctx.checkpoint_state = await checkpoints.load(attempt)
            self.ctx.save_checkpoint = functools.partial(checkpoints.save, attempt, number)
        deps.registry.check_task_data(fields)  # the type's schema may have changed
        kwargs = spec.bind(fields["task_data"])
        self.task = asyncio.current_task()
        timer = loop.call_later(fields["timeout_seconds"], self._time_out)
        claim_timer = None
        if attempt.phase is Phase.UNCLAIMED:
            claim_timer = loop.call_later(
                deps.options.claim_after_s, deps.claims.claim_late, attempt
            )
        reading = deps.meter.begin(fields["task_type"]) if deps.meter is not None else None
        try:
            result = await self._handler_call(spec, kwargs, reading)
        finally:
            # from here on neither the timer nor a cancel signal may interrupt our writes
            timer.cancel()
            if claim_timer is not None:
                claim_timer.cancel()
            self.task = None
            if reading is not None:
                attempt.metrics = reading.finish()
        if attempt.stop is Stop.TIMEOUT:  # the handler swallowed the cancellation
            raise asyncio.CancelledError
        return result

    async def _handler_call(
        self, spec: HandlerSpec, kwargs: dict[str, Any], reading: Reading | None
    ) -> Any:
        if spec.is_async:
            coro = spec.func(self.ctx, **kwargs)
            return await (coro if reading is None else measured(coro, reading.clock))
        func = spec.func if reading is None else in_thread(spec.func, reading.clock)
        call = functools.partial(func, self.ctx, **kwargs)
        self._thread_future = self.deps.executor.submit(call)
        return await asyncio.wrap_future(self._thread_future)

    async def _after_stop(self) -> None:
        """The handler was cancelled: a timeout, a cancel, a lost or changed claim, or (with
        none of those) the node shutting down, which the caller turns into a hand-back."""
        attempt = self.attempt
        if attempt.stop not in (Stop.TIMEOUT, Stop.CANCEL) and attempt.phase not in (
            Phase.LOST,
            Phase.CHANGED,
        ):
            # a sync handler's thread is left to finish in the pool (it cannot be stopped)
            self._thread_future = None
            raise asyncio.CancelledError
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            task.uncancel()
        if not await self.deps.claims.ensure_claimed(attempt):
            return
        if attempt.stop is Stop.CANCEL:
            await self.deps.outcomes.finish_cancelled(attempt)
            return
        fields = attempt.fields
        assert fields is not None
        timeout_s = fields["timeout_seconds"]
        await self.deps.outcomes.retry_or_fail(
            attempt,
            TimeoutError(f"task exceeded its timeout of {timeout_s} s"),
            delay_s=None,
            timed_out=True,
        )

    async def _wait_for_thread(self) -> None:
        """A thread cannot be killed: its slot stays taken until it notices and returns."""
        future, self._thread_future = self._thread_future, None
        if future is None or future.done():
            return
        if self.ctx is not None:
            self.ctx.mark_cancelled()
        await asyncio.shield(asyncio.wrap_future(future))
