"""Checkpoints of a running attempt: ``ctx.checkpoint(state)`` and ``ctx.checkpoint_state``.

A save is three steps, each a condition for the next:

1. the attempt owns the record (a task not yet claimed is claimed first, like a progress
   report: a task that checkpoints is a long one);
2. the state goes to PRSM_CHECKPOINTS, fenced by the attempt number (store/checkpoints.py):
   a later attempt's checkpoint is never replaced;
3. the record's ``checkpoint`` mark is written by compare-and-set on the revision this
   attempt holds, the same ownership test every write of a running attempt passes. A lost
   CAS reads the record: still ours (an edit of its metadata), write again; else refused.

A stale owner can thus at most store a checkpoint of its own attempt that no later attempt
has replaced yet: real progress of real work, which the next attempt may resume from. It is
never confirmed in the record, never overwrites a newer owner's state, and its handler
hears ``CheckpointRefusedError`` and should stop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from prsm_tasks import models, ownership, wire
from prsm_tasks.actors.attempt import Attempt, Phase, Stop
from prsm_tasks.actors.claims import Claims
from prsm_tasks.errors import CheckpointRefusedError, TransitionConflictError, ValidationError
from prsm_tasks.models import CheckpointMark, TaskStatus
from prsm_tasks.store.checkpoints import ENVELOPE_BYTES, CheckpointStore
from prsm_tasks.store.tasks import TaskStore

log = structlog.get_logger("prsm.node.checkpoints")

MAX_SUMMARY_CHARS = 200
MARK_TRIES = 8  # record edits (metadata) racing the mark this often: give up


class Checkpointer:
    """One per node: saves and loads the checkpoints of its attempts."""

    def __init__(
        self,
        *,
        node_id: str,
        store: TaskStore,
        checkpoints: CheckpointStore,
        claims: Claims,
        max_bytes: int,
        max_payload: int,
    ) -> None:
        self._node_id = node_id
        self._store = store
        self._checkpoints = checkpoints
        self._claims = claims
        # the state and its envelope go in one message: the server's limit bounds it too
        self.max_bytes = min(max_bytes, max_payload - ENVELOPE_BYTES)

    async def load(self, attempt: Attempt) -> Any:
        """The state the task's last checkpoint saved; None when its record marks none (no
        read at all: the first attempt of every task) or it expired."""
        fields = attempt.fields
        if fields is None or not fields.get("checkpoint"):
            return None
        stored = await self._checkpoints.read(attempt.task_id)
        if stored is None:
            log.warning("checkpoint_missing", task_id=attempt.task_id)
            return None
        return stored[0].decoded_state()

    async def save(
        self, attempt: Attempt, number: int, state: Any, summary: str | None
    ) -> CheckpointMark:
        """Save ``state`` as the task's checkpoint, written by attempt ``number``."""
        if summary is not None and (
            not isinstance(summary, str) or len(summary) > MAX_SUMMARY_CHARS
        ):
            raise ValidationError(
                f"a checkpoint summary is a string of at most {MAX_SUMMARY_CHARS} characters",
                field="summary",
            )
        encoded = wire.pack_checked(
            state, what="checkpoint state", field="state", max_bytes=self.max_bytes
        )
        task_id = attempt.task_id
        if attempt.stop in (Stop.CANCEL, Stop.TIMEOUT) or not await self._claims.ensure_claimed(
            attempt
        ):
            raise CheckpointRefusedError(
                f"task {task_id}: attempt {number} no longer owns it", task_id=task_id
            )
        fields = attempt.fields
        assert fields is not None
        stored = await self._checkpoints.write(
            task_id, tenant=fields["tenant"], attempt=number, state=encoded, summary=summary
        )
        mark = stored.mark
        await self._mark_record(attempt, mark)
        log.debug("checkpoint_saved", task_id=task_id, seq=mark.seq, size_bytes=mark.size_bytes)
        return mark

    async def _mark_record(self, attempt: Attempt, mark: CheckpointMark) -> None:
        """The record's mark, written only while the record says this attempt runs it."""
        if attempt.write_lock is None:
            attempt.write_lock = asyncio.Lock()
        task_id = attempt.task_id
        async with attempt.write_lock:
            for _ in range(MARK_TRIES):
                fields = attempt.fields
                if (
                    fields is None
                    or fields["status"] != TaskStatus.PROCESSING
                    or attempt.phase is Phase.LOST
                ):
                    break
                updated = {**fields, "checkpoint": mark.model_dump()}
                try:
                    rev = await self._store.put_encoded(
                        task_id, wire.pack(updated), last_rev=attempt.rev
                    )
                except TransitionConflictError:
                    # cancelled, taken over, or only its metadata edited: the record decides
                    record, rev = await self._store.get(task_id)
                    if not ownership.claimed_by(record, self._node_id, attempt.delivery.seq):
                        break
                    attempt.hold(models.record_fields(record), rev)
                    continue
                attempt.hold(updated, rev)
                return
        raise CheckpointRefusedError(
            f"task {task_id}: this attempt no longer owns it", task_id=task_id
        )
