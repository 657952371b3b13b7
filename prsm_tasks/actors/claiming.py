"""Claiming: the Runner's half that makes the record say "processing, owned by this node".

A claim is a CAS enqueued -> processing on the revision the work message carries; when that
revision is stale (a retry, a redelivery, a cancel, an edit) ``_claim_current`` reads the
record and decides: run it as it now is, take over a lapsed lease, or step aside (settling
the message as the case needs).

Short tasks are claimed late (see runner.py): the claim is held in memory while the handler
starts, and ``_claim_late`` writes it in the background when the handler runs long, reports
progress, fails, or its record is edited. ``store/cancels.py`` says when that is allowed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.aio.msg import Msg

from prsm_tasks import models, wire
from prsm_tasks.actors.support import (
    RunnerDeps,
    delivery_count,
    is_lapsed_lease,
    stored_at,
    stream_sequence,
)
from prsm_tasks.bus import Backoff
from prsm_tasks.errors import ServiceUnavailableError, TaskNotFoundError, TransitionConflictError
from prsm_tasks.models import Fields, TaskRecord, TaskStatus

log = structlog.get_logger("prsm.runner")


class Claiming:
    """Claim state and its writes; mixed into Runner, which provides the rest."""

    msg: Msg
    deps: RunnerDeps
    task_id: str
    fields: Fields | None
    rev: int
    claim_written: bool  # the record says processing, owned by this runner
    claim_lost: bool  # a late claim found another owner: stop, write nothing
    rerun: bool  # the record changed before the claim: run again as it is now
    handing_back: bool  # shutdown: a late claim in flight stops retrying
    progress_dirty: bool
    _claim_task: asyncio.Task[bool] | None

    def _stop_handler(self) -> None:
        raise NotImplementedError

    async def _settle(self, settle: Callable[[], Awaitable[None]]) -> None:
        raise NotImplementedError

    async def _publish_started(self) -> None:
        raise NotImplementedError

    async def _after_final(self, record: TaskRecord) -> None:
        raise NotImplementedError

    async def _publish(
        self, event_type: str, data: dict[str, Any], *, attempt_of: TaskRecord | None = None
    ) -> None:
        raise NotImplementedError

    def claim_now(self) -> None:
        """Its record changed (an edit): a run started before its claim claims it now."""
        if not self.claim_written:
            self._claim_late()

    def _may_start_unclaimed(self, fields: Fields, first_message: bool, now: float) -> bool:
        """Only the first delivery of a task's first message, not cancelled since it was
        stored (see store/cancels.py): a redelivery or a re-publish may find it owned."""
        deps = self.deps
        return (
            first_message
            and deps.claim_after_s > 0
            and deps.cancels is not None
            and startable(fields, now)
            and delivery_count(self.msg) == 1
            and deps.cancels.allows_unclaimed_start(self.task_id, stored_at(self.msg))
        )

    async def _claim(self, fields: Fields, rev: int) -> bool:
        deps = self.deps
        now = time.time()
        if startable(fields, now):
            claimed = models.claim_fields(
                fields, node_id=deps.node_id, now=now, message_seq=stream_sequence(self.msg)
            )
            try:
                self.rev = await deps.store.put_encoded(
                    self.task_id, wire.pack(claimed), last_rev=rev
                )
            except TransitionConflictError:
                return await self._claim_current()
            self.fields = claimed
            self.claim_written = True
            return True
        return await self._claim_current()

    def _claim_late(self) -> None:
        """Write the claim held in memory (the handler ran long or reported progress)."""
        if self._claim_task is None and not self.claim_written:
            self._claim_task = asyncio.get_running_loop().create_task(self._write_late_claim())

    async def _write_late_claim(self) -> bool:
        fields = self.fields
        assert fields is not None
        payload = wire.pack(fields)
        backoff = Backoff(patience_s=self.deps.lease_s)
        while True:
            try:
                try:
                    self.rev = await self.deps.store.put_encoded(
                        self.task_id, payload, last_rev=self.rev
                    )
                    break
                except TransitionConflictError:
                    landed = await self._landed(payload) if backoff.paused else None
                    if landed is not None:
                        self.rev = landed
                        break
                    # changed since its message: claim it as it is now (or step aside, as
                    # _claim_current decides: it settles the message then); if its data is
                    # what this run started from, the run goes on as that claim's attempt
                    ran_with = (fields["task_type"], fields["task_data"])
                    if await self._claim_current(may_take_over=False):
                        current = self.fields
                        assert current is not None
                        if (current["task_type"], current["task_data"]) == ran_with:
                            break
                        self.rerun = True
                    else:
                        self.claim_lost = True
                    self._stop_handler()
                    return False
            except ServiceUnavailableError as exc:
                if self.handing_back or backoff.exhausted:
                    # no claim, so nobody may see it running: stop, and let it run again
                    log.error("late_claim_gave_up", task_id=self.task_id, error=exc.message)
                    self.claim_lost = True
                    self._stop_handler()
                    await self._settle(self.msg.nak)
                    return False
                await backoff.pause()
        self.claim_written = True  # (also set by _claim_current)
        await self._publish_started()
        if self.progress_dirty:
            self.deps.on_progress(self)  # held back until the record said processing
        return True

    async def _landed(self, payload: bytes) -> int | None:
        """The record's revision if what is stored is exactly ``payload`` (our write, whose
        reply was lost, did land), else None."""
        try:
            stored, rev = await self.deps.store.get_encoded(self.task_id)
        except TaskNotFoundError:
            return None
        return rev if stored == payload else None

    async def _ensure_claimed(self) -> bool:
        """Before any write other than a completion: the record must say we own the task
        as this run saw it (False: write nothing; ``rerun`` may ask to run it again)."""
        if self.claim_written and not self.rerun:
            return True
        self._claim_late()
        # shielded: our own cancel (a shutdown) must not cut a claim write off half way
        return self._claim_task is not None and await asyncio.shield(self._claim_task)

    async def _claim_current(self, *, may_take_over: bool = True) -> bool:
        """The message's revision is stale (a retry, a redelivery, a cancel): read and decide.

        ``may_take_over=False`` (a late claim): a record processing elsewhere is a peer that
        got our message after our lease lapsed, not a lost node: step aside, settle nothing.
        """
        deps = self.deps
        seq = stream_sequence(self.msg)
        for _ in range(8):
            try:
                record, rev = await deps.store.get(self.task_id)
            except TaskNotFoundError:
                await self.msg.ack()  # the record was deleted: nothing to run
                return False
            now = time.time()
            if record.is_final or record.status in (TaskStatus.WAITING, TaskStatus.SCHEDULED):
                if record.is_final:
                    await self._after_final(record)
                await self.msg.ack()
                return False
            if record.status is TaskStatus.ENQUEUED:
                if record.not_before is not None and record.not_before > now + 0.05:
                    await self.msg.nak(delay=record.not_before - now)
                    return False
                claimed = models.claim(record, node_id=deps.node_id, now=now, message_seq=seq)
            elif not may_take_over and claimed_by(record, deps.node_id, seq):
                # this run's own claim, stored though its reply was lost: carry on with it
                # (only here: a restarted node of the same name must count its lost attempt)
                self.fields, self.rev, self.claim_written = models.record_fields(record), rev, True
                return True
            elif not may_take_over:
                log.warning(
                    "late_claim_found_owner", task_id=self.task_id, owner=record.worker_node
                )
                return False
            elif not is_lapsed_lease(record, seq, delivery_count(self.msg)):
                # a second work message for a task already claimed (a priority change, an
                # idempotent re-publish after the duplicate window): the claimed one is real
                await self.msg.ack()
                return False
            else:
                # the message the running attempt came from was redelivered: its lease lapsed
                claimed = models.take_over(record, node_id=deps.node_id, now=now, message_seq=seq)
            try:
                self.rev = await deps.store.put(claimed, last_rev=rev)
            except TransitionConflictError:
                continue
            self.fields = models.record_fields(claimed)
            if claimed.status is TaskStatus.FAILED:
                log.warning("task_lost_too_often", task_id=self.task_id)
                error = claimed.error
                assert error is not None
                await self._publish(
                    "task_failed", {"error": error.message, "error_type": "NodeLost"}
                )
                await self._after_final(claimed)
                await self.msg.ack()
                return False
            self.claim_written = True
            if record.status is TaskStatus.PROCESSING:
                log.info(
                    "task_taken_over",
                    task_id=self.task_id,
                    lost_node=record.worker_node,
                    attempt=claimed.attempt,
                )
            return True
        log.warning("claim_gave_up", task_id=self.task_id)
        return False


def startable(fields: Fields, now: float) -> bool:
    """Enqueued and due: the work message's record may be claimed as it is."""
    not_before = fields["not_before"]
    return fields["status"] == TaskStatus.ENQUEUED and (not_before is None or not_before <= now)


def claimed_by(record: TaskRecord, node_id: str, message_seq: int) -> bool:
    """Is ``record`` processing in an attempt this node started from message ``message_seq``?"""
    last = record.attempts[-1] if record.attempts else None
    return (
        record.status is TaskStatus.PROCESSING
        and last is not None
        and last.node == node_id
        and last.message_seq == message_seq
    )
