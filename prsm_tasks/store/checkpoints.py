"""Checkpoints of persistent jobs: the last saved state of each task, in PRSM_CHECKPOINTS.

One key per task (its id) holds its latest checkpoint: the encoded state and who wrote it.
Writes are compare-and-set on the key's revision and fenced by the attempt number: an
attempt never replaces a checkpoint a later attempt of the same task wrote, so a node that
lost its lease (and does not know it yet) cannot overwrite the state of the node that took
the task over. The record's ``checkpoint`` mark (models.CheckpointMark) says which
checkpoint the task's owner last confirmed; listings read the mark, runs read this bucket.

Retention: the bucket's TTL is the finished-record retention, counted from a key's last
write, so a checkpoint never outlives the record of a task that stopped after writing it.
"""

from __future__ import annotations

import time
from typing import Any

import nats.js.errors
import structlog
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict

from prsm_tasks import wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.errors import CheckpointRefusedError, ServiceUnavailableError
from prsm_tasks.models import CheckpointMark

log = structlog.get_logger("prsm.store.checkpoints")

CHECKPOINT_VERSION = 1
CAS_TRIES = 8  # a key that changes under us this often: give up (the writers are racing)
ENVELOPE_BYTES = 4096  # what the stored checkpoint adds around the state, at most


class StoredCheckpoint(BaseModel):
    """The bucket's value: the state, encoded, and what the mark says about it."""

    model_config = ConfigDict(extra="ignore")

    v: int = CHECKPOINT_VERSION
    task_id: str
    tenant: str | None = None
    seq: int
    attempt: int
    at: float
    summary: str | None = None
    state: bytes  # msgpack of the handler's state

    @property
    def mark(self) -> CheckpointMark:
        return CheckpointMark(
            seq=self.seq,
            attempt=self.attempt,
            at=self.at,
            size_bytes=len(self.state),
            summary=self.summary,
        )

    def decoded_state(self) -> Any:
        return wire.unpack(self.state)


class CheckpointStore:
    """Reads and fenced writes of PRSM_CHECKPOINTS (the bucket is opened on first use: most
    processes never touch it)."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            with nats_errors_as_prsm("opening the checkpoint bucket"):
                self._kv = await self._js.key_value(wire.CHECKPOINTS_BUCKET)
        return self._kv

    async def read(self, task_id: str) -> tuple[StoredCheckpoint, int] | None:
        """The task's checkpoint and its revision; None when it has none (or it expired)."""
        kv = await self._bucket()
        try:
            with nats_errors_as_prsm(f"reading the checkpoint of {task_id}"):
                entry = await kv.get(task_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        if not entry.value or entry.revision is None:
            return None
        return StoredCheckpoint.model_validate(wire.unpack(entry.value)), entry.revision

    async def write(
        self,
        task_id: str,
        *,
        tenant: str | None,
        attempt: int,
        state: bytes,
        summary: str | None,
    ) -> StoredCheckpoint:
        """Store ``state`` as the task's next checkpoint, written by attempt ``attempt``.

        CheckpointRefusedError when a later attempt's checkpoint is stored: that attempt
        owns the task now (our lease lapsed), and its state must stand."""
        kv = await self._bucket()
        for _ in range(CAS_TRIES):
            current = await self.read(task_id)
            if current is not None and current[0].attempt > attempt:
                raise CheckpointRefusedError(
                    f"task {task_id}: attempt {current[0].attempt} owns it now, "
                    f"not attempt {attempt}",
                    task_id=task_id,
                )
            stored = StoredCheckpoint(
                task_id=task_id,
                tenant=tenant,
                seq=current[0].seq + 1 if current is not None else 1,
                attempt=attempt,
                at=time.time(),
                summary=summary,
                state=state,
            )
            payload = wire.pack(stored.model_dump())
            # the race: two attempts both read the key, both decide they may write; the
            # revision makes one of them read again, and the fence above then refuses the
            # older one
            try:
                with nats_errors_as_prsm(f"writing the checkpoint of {task_id}"):
                    if current is None:
                        await kv.create(task_id, payload)
                    else:
                        await kv.update(task_id, payload, last=current[1])
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            return stored
        raise ServiceUnavailableError(
            f"the checkpoint of {task_id} kept changing under this write", task_id=task_id
        )
