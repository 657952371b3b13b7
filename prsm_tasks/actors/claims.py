"""Claims: the writes that make a record say "processing, owned by this attempt".

A claim is a CAS enqueued -> processing on the revision the work message carries; when that
revision is stale (a retry, a redelivery, a cancel, an edit) ``claim_current`` reads the
record and applies the ownership rules (prsm_tasks/ownership.py): run it as it now is, take
over a lapsed lease, or step aside (settling the message as the case needs).

Short tasks are claimed late (see runner.py): the claim is held in memory while the handler
starts (``Phase.UNCLAIMED``), and ``claim_late`` writes it in the background
(``Phase.CLAIMING``) when the handler runs long, reports progress, fails, or its record is
edited. ``store/cancels.py`` says when starting before the claim is allowed.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from prsm_tasks import models, ownership, wire
from prsm_tasks.actors.announce import Announcer
from prsm_tasks.actors.attempt import Attempt, Phase, Stop
from prsm_tasks.bus import Backoff
from prsm_tasks.errors import ServiceUnavailableError, TaskNotFoundError, TransitionConflictError
from prsm_tasks.models import Fields, TaskStatus
from prsm_tasks.ownership import Verdict
from prsm_tasks.store.cancels import CancelMemory
from prsm_tasks.store.tasks import TaskStore

log = structlog.get_logger("prsm.runner")

CLAIM_READS = 8  # a record that changes under us this often: give up, its lease decides


class Claims:
    """One per node; every method works on the attempt it is given."""

    def __init__(
        self,
        *,
        node_id: str,
        store: TaskStore,
        announcer: Announcer,
        cancels: CancelMemory | None,
        claim_after_s: float,
        lease_s: float,
    ) -> None:
        self.node_id = node_id
        self._store = store
        self._announcer = announcer
        self._cancels = cancels
        self.claim_after_s = claim_after_s
        self._lease_s = lease_s

    def may_start_unclaimed(self, attempt: Attempt, fields: Fields, first_message: bool) -> bool:
        """Only the first delivery of a task's first message, not cancelled since it was
        stored (see store/cancels.py): a redelivery or a re-publish may find it owned."""
        delivery = attempt.delivery
        return (
            first_message
            and self.claim_after_s > 0
            and self._cancels is not None
            and ownership.startable(fields, time.time())
            and delivery.deliveries == 1
            and self._cancels.allows_unclaimed_start(attempt.task_id, delivery.stored_at)
        )

    def hold_unclaimed(self, attempt: Attempt, fields: Fields, rev: int) -> None:
        """Claimed in memory only: ``claim_late`` writes it if the handler runs long."""
        claimed = models.claim_fields(
            fields, node_id=self.node_id, now=time.time(), message_seq=attempt.delivery.seq
        )
        attempt.hold(claimed, rev)
        attempt.move(Phase.UNCLAIMED)

    async def claim(self, attempt: Attempt, fields: Fields, rev: int) -> bool:
        """Claim before the handler starts; False: not ours to run (settled as needed)."""
        now = time.time()
        if not ownership.startable(fields, now):
            return await self.claim_current(attempt)
        claimed = models.claim_fields(
            fields, node_id=self.node_id, now=now, message_seq=attempt.delivery.seq
        )
        try:
            new_rev = await self._store.put_encoded(
                attempt.task_id, wire.pack(claimed), last_rev=rev
            )
        except TransitionConflictError:
            return await self.claim_current(attempt)
        attempt.hold(claimed, new_rev)
        attempt.move(Phase.CLAIMED)
        return True

    def claim_late(self, attempt: Attempt) -> None:
        """Write the claim held in memory (the handler ran long, reported progress, ...)."""
        if attempt.phase is Phase.UNCLAIMED:
            attempt.move(Phase.CLAIMING)
            loop = asyncio.get_running_loop()
            attempt.claim_task = loop.create_task(self._write_late_claim(attempt))

    async def ensure_claimed(self, attempt: Attempt) -> bool:
        """Before any write other than a completion: the record must say we own the task
        as this run saw it (False: write nothing; ``Phase.CHANGED`` asks to run it again)."""
        if attempt.phase in (Phase.CLAIMED, Phase.WRITTEN):
            return True
        self.claim_late(attempt)
        claim = attempt.claim_task
        # shielded: our own cancel (a shutdown) must not cut a claim write off half way
        return claim is not None and await asyncio.shield(claim)

    async def _write_late_claim(self, attempt: Attempt) -> bool:
        fields = attempt.fields
        assert fields is not None
        payload = wire.pack(fields)
        backoff = Backoff(patience_s=self._lease_s)
        while True:
            try:
                try:
                    attempt.rev = await self._store.put_encoded(
                        attempt.task_id, payload, last_rev=attempt.rev
                    )
                    break
                except TransitionConflictError:
                    landed = await self.landed(attempt, payload) if backoff.paused else None
                    if landed is not None:
                        attempt.rev = landed
                        break
                    if await self._claim_changed(attempt, fields):
                        break
                    return False
            except ServiceUnavailableError as exc:
                if attempt.stop is Stop.SHUTDOWN or backoff.exhausted:
                    # no claim, so nobody may see it running: stop, and let it run again
                    log.error("late_claim_gave_up", task_id=attempt.task_id, error=exc.message)
                    attempt.move(Phase.LOST)
                    attempt.interrupt()
                    await attempt.delivery.nak_unless_settled()
                    return False
                await backoff.pause()
        attempt.move(Phase.CLAIMED)
        await self._announcer.started(attempt)
        if attempt.progress is not None:
            attempt.progress.requeue()  # held back until the record said processing
        return True

    async def _claim_changed(self, attempt: Attempt, ran_with: Fields) -> bool:
        """The record changed since its message: claim it as it is now (or step aside, as
        ``claim_current`` decides: it settles the message then). If its data is what this
        run started from, the run goes on as that claim's attempt; else it runs again."""
        if await self.claim_current(attempt, may_take_over=False):
            current = attempt.fields
            assert current is not None
            if (current["task_type"], current["task_data"]) == (
                ran_with["task_type"],
                ran_with["task_data"],
            ):
                return True
            attempt.move(Phase.CHANGED)
        else:
            attempt.move(Phase.LOST)
        attempt.interrupt()
        return False

    async def landed(self, attempt: Attempt, payload: bytes) -> int | None:
        """The record's revision if what is stored is exactly ``payload`` (our write, whose
        reply was lost, did land), else None."""
        try:
            stored, rev = await self._store.get_encoded(attempt.task_id)
        except TaskNotFoundError:
            return None
        return rev if stored == payload else None

    async def claim_current(self, attempt: Attempt, *, may_take_over: bool = True) -> bool:
        """The message's revision is stale (a retry, a redelivery, a cancel): read and decide.

        ``may_take_over=False`` (a late claim): a record processing elsewhere is a peer that
        got our message after our lease lapsed, not a lost node: step aside, settle nothing.
        """
        delivery = attempt.delivery
        for _ in range(CLAIM_READS):
            try:
                record, rev = await self._store.get(attempt.task_id)
            except TaskNotFoundError:
                await delivery.ack()  # the record was deleted: nothing to run
                return False
            now = time.time()
            judgement = ownership.judge(
                record, message_seq=delivery.seq, deliveries=delivery.deliveries, now=now
            )
            verdict = judgement.verdict
            if verdict is Verdict.STALE:
                if record.is_final:
                    await self._announcer.final(record)
                await delivery.ack()
                return False
            if verdict is Verdict.NOT_DUE:
                await delivery.nak(judgement.delay_s)
                return False
            if verdict is Verdict.CLAIM:
                claimed = models.claim(
                    record, node_id=self.node_id, now=now, message_seq=delivery.seq
                )
            elif not may_take_over:
                return self._own_claim_landed(attempt, record, rev)
            elif verdict is Verdict.DUPLICATE:
                # a second work message for a task already claimed (a priority change, an
                # idempotent re-publish after the duplicate window): the claimed one is real
                await delivery.ack()
                return False
            else:
                # the message the running attempt came from was redelivered: its lease lapsed
                claimed = models.take_over(
                    record, node_id=self.node_id, now=now, message_seq=delivery.seq
                )
            try:
                new_rev = await self._store.put(claimed, last_rev=rev)
            except TransitionConflictError:
                continue
            attempt.hold(models.record_fields(claimed), new_rev)
            return await self._claimed(attempt, claimed, taken_from=record)
        log.warning("claim_gave_up", task_id=attempt.task_id)
        return False

    def _own_claim_landed(self, attempt: Attempt, record: models.TaskRecord, rev: int) -> bool:
        """A late claim found the record processing: ours if it is this run's own claim,
        stored though its reply was lost (only here: a restarted node of the same name must
        count its lost attempt); else another owner's, and we step aside."""
        if ownership.claimed_by(record, self.node_id, attempt.delivery.seq):
            attempt.hold(models.record_fields(record), rev)
            attempt.move(Phase.CLAIMED)
            return True
        log.warning("late_claim_found_owner", task_id=attempt.task_id, owner=record.worker_node)
        return False

    async def _claimed(
        self, attempt: Attempt, claimed: models.TaskRecord, *, taken_from: models.TaskRecord
    ) -> bool:
        if claimed.status is TaskStatus.FAILED:  # a take-over of a task lost too often
            log.warning("task_lost_too_often", task_id=attempt.task_id)
            error = claimed.error
            assert error is not None
            await self._announcer.publish(
                attempt, "task_failed", {"error": error.message, "error_type": "NodeLost"}
            )
            await self._announcer.final(claimed)
            await attempt.delivery.ack()
            return False
        attempt.move(Phase.CLAIMED)
        if taken_from.status is TaskStatus.PROCESSING:
            log.info(
                "task_taken_over",
                task_id=attempt.task_id,
                lost_node=taken_from.worker_node,
                attempt=claimed.attempt,
            )
        return True
