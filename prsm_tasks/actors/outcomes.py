"""Outcomes: the attempt's last write (completed, failed, timeout, retry, cancelled, handed
back), its event, and the message's ack or nak.

Every outcome is a CAS on the revision this attempt last stored. A lost CAS means someone
else owns the record now: a canceller (cancel wins over a late completion), a peer that
took over after our lease lapsed, or an edit of the metadata, which ``ownership.rebase``
puts our outcome on top of. The common path (complete) works on the wire form and never
builds a pydantic model; the rarer outcomes use TaskRecord.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
from collections import Counter
from typing import Any, Literal

import structlog

from prsm_tasks import models, ownership, wire
from prsm_tasks.actors.announce import Announcer
from prsm_tasks.actors.attempt import Attempt, Phase
from prsm_tasks.actors.claims import Claims
from prsm_tasks.actors.options import NodeOptions
from prsm_tasks.bus import Backoff
from prsm_tasks.errors import ServiceUnavailableError, TaskNotFoundError, TransitionConflictError
from prsm_tasks.models import FINAL_STATUSES, ErrorInfo, Fields, TaskRecord, TaskStatus
from prsm_tasks.store.events import completed_data
from prsm_tasks.store.tasks import TaskStore

log = structlog.get_logger("prsm.runner")

FINAL_WRITE_PATIENCE_S = 120.0


def error_info(exc: BaseException) -> ErrorInfo:
    return ErrorInfo(
        type=type(exc).__name__,
        message=str(exc) or type(exc).__name__,
        traceback="".join(traceback.format_exception(exc))[-8000:],
    )


def retry_delay_s(retry_count: int, *, base_s: float, max_s: float) -> float:
    """Exponential backoff with full jitter around the nominal delay (0.5x .. 1.5x)."""
    nominal = min(max_s, base_s * (2**retry_count))
    return nominal * random.uniform(0.5, 1.5)


def current_record(attempt: Attempt) -> TaskRecord:
    """The record this attempt holds, with the progress not yet written."""
    fields = attempt.fields
    assert fields is not None
    if attempt.progress is not None:
        fields = attempt.progress.applied_to(fields)
    return TaskRecord.model_validate(models.with_attempt_metrics(fields, attempt.metrics))


class Outcomes:
    """One per node; every method works on the attempt it is given."""

    def __init__(
        self,
        *,
        store: TaskStore,
        claims: Claims,
        announcer: Announcer,
        options: NodeOptions,
        counters: Counter[str],
    ) -> None:
        self._store = store
        self._claims = claims
        self._announcer = announcer
        self._options = options
        self._counters = counters

    async def complete(self, attempt: Attempt, result: Any, result_bytes: int) -> None:
        claim = attempt.claim_task
        if claim is not None and not await asyncio.shield(claim):
            return  # a late claim found the task changed, or owned elsewhere
        progress = attempt.progress
        if progress is not None:
            # progress the pump has not sent yet goes out before the outcome's event
            await progress.publish_pending(final=True)
        fields = attempt.fields
        assert fields is not None
        if progress is not None:
            fields = progress.applied_to(fields)
        fields = models.with_attempt_metrics(fields, attempt.metrics)
        done = models.complete_fields(fields, result=result, now=time.time())
        if not await self.write(attempt, done):
            if attempt.phase is not Phase.UNCLAIMED:
                return
            done = await self._complete_changed(attempt, fields, result)
            if done is None:
                return
        self._counters["completed"] += 1
        await self._announcer.started(attempt)  # a task that ran before its claim: only now
        await self._announcer.publish(
            attempt,
            "task_completed",
            completed_data(attempt.task_id, result, size_bytes=result_bytes),
        )
        # as written: a write rebased over a child appended meanwhile names that child too
        await self._announcer.final_fields(attempt.fields or done)
        await attempt.delivery.ack()

    async def _complete_changed(
        self, attempt: Attempt, ran_with: Fields, result: Any
    ) -> Fields | None:
        """Not claimed yet, and the record changed since its message: claim it as it is
        now. Same work (only its metadata or its dependents changed): the result stands
        for it, written over the claim. New work (new data, new type): run it again as it
        is (``Phase.CHANGED``). None when nothing was written for this run."""
        if not await self._claims.claim_current(attempt):
            attempt.move(Phase.LOST)
            return None
        current = attempt.fields
        assert current is not None
        if (current["task_type"], current["task_data"]) != (
            ran_with["task_type"],
            ran_with["task_data"],
        ):
            attempt.move(Phase.CHANGED)
            return None
        done = models.complete_fields(current, result=result, now=time.time())
        return done if await self.write(attempt, done) else None

    async def fail(self, attempt: Attempt, exc: BaseException, *, timed_out: bool = False) -> None:
        if not await self._claims.ensure_claimed(attempt):
            return
        record = current_record(attempt)
        status: Literal[TaskStatus.FAILED, TaskStatus.TIMEOUT] = (
            TaskStatus.TIMEOUT if timed_out else TaskStatus.FAILED
        )
        info = error_info(exc)
        final = models.finish_unsuccessfully(record, status=status, error=info, now=time.time())
        if await self.write(attempt, models.record_fields(final)):
            self._counters["failed"] += 1
            event = "task_timeout" if timed_out else "task_failed"
            await self._announcer.publish(
                attempt, event, {"error": info.message, "error_type": info.type}
            )
            await self._announcer.final_fields(attempt.fields or models.record_fields(final))
            await attempt.delivery.ack()

    async def retry_or_fail(
        self,
        attempt: Attempt,
        exc: BaseException,
        *,
        delay_s: float | None,
        timed_out: bool = False,
    ) -> None:
        if not await self._claims.ensure_claimed(attempt):
            return
        if attempt.progress is not None:
            await attempt.progress.publish_pending(final=True)
        record = current_record(attempt)
        if record.retry_count >= record.max_retries:
            await self.fail(attempt, exc, timed_out=timed_out)
            return
        if delay_s is None:
            options = self._options
            delay_s = retry_delay_s(
                record.retry_count, base_s=options.retry_base_s, max_s=options.retry_max_s
            )
        now = time.time()
        info = error_info(exc)
        outcome = models.AttemptOutcome.TIMEOUT if timed_out else models.AttemptOutcome.FAILED
        again = models.schedule_retry(
            record, error=info, now=now, not_before=now + delay_s, outcome=outcome
        )
        if not await self.write(attempt, models.record_fields(again)):
            return
        log.info(
            "task_retrying",
            task_id=record.task_id,
            attempt=record.attempt,
            delay_s=round(delay_s, 3),
            error=info.message,
        )
        data = {
            "error": info.message,
            "error_type": info.type,
            "delay_seconds": delay_s,
            "retry_count": again.retry_count,
        }
        await self._announcer.publish(attempt, "task_retrying", data, attempt_of=record)
        await attempt.delivery.nak(delay_s)

    async def finish_cancelled(self, attempt: Attempt) -> None:
        """The canceller already wrote `cancelled` (cancel wins); make sure, then let go."""
        try:
            record, rev = await self._store.get(attempt.task_id)
        except TaskNotFoundError:
            await attempt.delivery.ack()
            return
        if not record.is_final:
            # cancelled by ctx without a recorded cancel (e.g. raise_if_cancelled misuse)
            cancelled = models.cancel(record, now=time.time(), reason="cancelled by its handler")
            try:
                await self._store.put(cancelled, last_rev=rev)
            except TransitionConflictError:
                return
            attempt.fields = models.record_fields(cancelled)
            attempt.move(Phase.WRITTEN)
            await self._announcer.publish(attempt, "task_cancelled", {})
            record = cancelled
        await self._announcer.final(record)
        log.info("task_cancelled_while_running", task_id=attempt.task_id)
        await attempt.delivery.ack()

    async def hand_back(self, attempt: Attempt) -> None:
        """Shutdown: back to the queue for a peer (not counted as a retry), or, before its
        claim is stored, just the message: a peer may have it at once."""
        fields = attempt.fields
        if fields is None or not attempt.owns_record:
            await attempt.delivery.nak_unless_settled()
            return
        if fields["status"] != TaskStatus.PROCESSING:
            return  # its outcome (a retry, a final state) was written and the message settled
        back = models.hand_back(current_record(attempt), now=time.time())
        try:
            await self._store.put(back, last_rev=attempt.rev)
            attempt.move(Phase.WRITTEN)
        except (TransitionConflictError, ServiceUnavailableError):
            pass  # cancelled meanwhile, or NATS is gone: then the lease lapses, a peer decides
        await attempt.delivery.nak()

    async def write(self, attempt: Attempt, new_fields: Fields) -> bool:
        """CAS the final (or retry) record; keep trying while NATS is away.

        False when we no longer own the task: cancelled meanwhile (cancel wins over a late
        completion), or a peer took it over after our lease lapsed. Then we neither write
        nor ack: the record already says what happened.
        """
        lock = attempt.write_lock
        if lock is not None:
            async with lock:
                return await self._write_unlocked(attempt, new_fields)
        return await self._write_unlocked(attempt, new_fields)

    async def _write_unlocked(self, attempt: Attempt, new_fields: Fields) -> bool:
        backoff = Backoff(patience_s=FINAL_WRITE_PATIENCE_S)
        payload = wire.pack(new_fields)
        while True:
            try:
                try:
                    rev = await self._store.put_encoded(
                        attempt.task_id,
                        payload,
                        last_rev=attempt.rev,
                        final=new_fields["status"] in FINAL_STATUSES,
                    )
                except TransitionConflictError:
                    landed = await self._claims.landed(attempt, payload) if backoff.paused else None
                    if landed is None:
                        if not attempt.owns_record:
                            return False  # never claimed: the caller decides what that means
                        if (rebased := await self._rebased(attempt, new_fields)) is None:
                            return await self._lost_ownership(attempt)
                        new_fields, payload = rebased, wire.pack(rebased)
                        continue
                    rev = landed
                attempt.hold(new_fields, rev)
                attempt.move(Phase.WRITTEN)
                return True
            except ServiceUnavailableError as exc:
                if backoff.exhausted:
                    log.error("final_write_gave_up", task_id=attempt.task_id, error=exc.message)
                    return False  # unacked: the lease lapses and the task runs again
                log.warning("final_write_retrying", task_id=attempt.task_id, error=exc.message)
                await backoff.pause()

    async def _rebased(self, attempt: Attempt, new_fields: Fields) -> Fields | None:
        try:
            record, rev = await self._store.get(attempt.task_id)
        except TaskNotFoundError:
            return None
        rebased = ownership.rebase(
            new_fields, record, owner=self._claims.node_id, message_seq=attempt.delivery.seq
        )
        if rebased is not None:
            attempt.rev = rev
        return rebased

    async def _lost_ownership(self, attempt: Attempt) -> bool:
        attempt.move(Phase.LOST)
        try:
            record, _ = await self._store.get(attempt.task_id)
        except TaskNotFoundError:
            await attempt.delivery.ack()
            return False
        if record.status is TaskStatus.CANCELLED:
            log.info("late_result_discarded", task_id=attempt.task_id)
            await self._announcer.final(record)
            await attempt.delivery.ack()
        else:
            log.warning(
                "claim_lost",
                task_id=attempt.task_id,
                status=str(record.status),
                owner=record.worker_node,
            )
        return False
