"""Task records in the PRSM_TASKS bucket, written only by compare-and-set.

Writes go straight to ``$KV.PRSM_TASKS.<task_id>`` as requests carrying
``Nats-Expected-Last-Subject-Sequence``: the same thing ``kv.update(last=rev)`` does, minus
the PubAck objects it builds, because this is the hot path of every task.

Every update stores the task's number (``created_rev``, see ``models.task_number``): a
record is stamped with it when read at its revision (``decode_record``, and the runner's
read of a work message), and ``put`` stamps whatever it is given, so the first update,
made against the create revision, stores that revision.

With several partitions (``Topology.partitions``) every record lives in the bucket of its
partition, ``wire.partition_of`` its id: each read and write here goes there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from prsm_tasks import wire
from prsm_tasks.bus import ERR_WRONG_LAST_SEQUENCE, Requests, nats_errors_as_prsm
from prsm_tasks.errors import (
    ServiceUnavailableError,
    TaskNotFoundError,
    TransitionConflictError,
)
from prsm_tasks.models import TaskRecord, numbered, record_fields

EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
MESSAGE_TTL = "Nats-TTL"
REQUEST_TIMEOUT_S = 10.0
WITHDRAWN_MARKER_TTL = "600"  # seconds the marker of a record withdrawn before its work stays

log = structlog.get_logger("prsm.store.tasks")


def encode_record(record: TaskRecord) -> bytes:
    return wire.pack(record_fields(record))


def encode_update(record: TaskRecord, last_rev: int) -> bytes:
    """The record as an update made against ``last_rev``: numbered when it was not yet."""
    return wire.pack(numbered(record_fields(record), last_rev))


def decode_record(data: bytes, rev: int) -> TaskRecord:
    """The record stored at revision ``rev``, numbered (see ``models.task_number``)."""
    return TaskRecord.model_validate(numbered(wire.unpack(data), rev))


class TaskStore:
    def __init__(
        self, kvs: Sequence[KeyValue], requests: Requests, *, final_ttl_s: float = 0.0
    ) -> None:
        self._kvs = tuple(kvs)  # one bucket per partition
        self.partitions = len(self._kvs)
        self.requests = requests
        # a final record is written with a per-message TTL: it expires after the retention
        self._final_ttl = str(int(final_ttl_s)) if final_ttl_s >= 1 else None

    @classmethod
    async def open(
        cls, nc: NatsClient, js: JetStreamContext, *, final_ttl_s: float = 0.0, partitions: int = 1
    ) -> TaskStore:
        kvs = []
        with nats_errors_as_prsm("opening the task bucket"):
            for partition in range(partitions):
                bucket = wire.tasks_bucket(partition)
                kvs.append(await js.key_value(bucket))
                if final_ttl_s >= 1:
                    info = await js.stream_info(wire.tasks_stream(partition))
                    if not info.config.allow_msg_ttl:
                        log.warning(
                            "task_retention_unavailable",
                            bucket=bucket,
                            reason="bucket has no message TTL",
                        )
                        final_ttl_s = 0.0
        return cls(kvs, await Requests(nc).start(), final_ttl_s=final_ttl_s)

    def partition_of(self, task_id: str) -> int:
        return wire.partition_of(task_id, self.partitions)

    def key_subject(self, task_id: str) -> str:
        """The subject of the task's key, in its partition's bucket."""
        return wire.task_key_subject(task_id, self.partition_of(task_id))

    def work_subject(self, record: TaskRecord) -> str:
        """Where the task's work messages go: its band, in its partition's work stream."""
        return wire.work_subject(record.queue_name, record.band, self.partition_of(record.task_id))

    def _kv_of(self, task_id: str) -> KeyValue:
        return self._kvs[self.partition_of(task_id)]

    async def close(self) -> None:
        await self.requests.stop()

    async def _write(
        self, task_id: str, payload: bytes, last_rev: int, *, final: bool = False
    ) -> int:
        """Store ``payload`` if the key's revision is still ``last_rev`` (0: must not exist)."""
        headers = {EXPECTED_LAST_SUBJECT_SEQ: str(last_rev)}
        if final and self._final_ttl is not None:
            headers[MESSAGE_TTL] = self._final_ttl
        reply = await self.requests.request(
            self.key_subject(task_id), payload, headers=headers, timeout_s=REQUEST_TIMEOUT_S
        )
        if b'"error"' not in reply:
            # {"stream":"KV_PRSM_TASKS","seq":N}: read the number without a JSON parse
            return int(reply[reply.rindex(b":") + 1 : reply.rindex(b"}")])
        error = json.loads(reply)["error"]
        if error.get("err_code") == ERR_WRONG_LAST_SEQUENCE:
            raise TransitionConflictError(
                f"task {task_id} changed since revision {last_rev}", task_id=task_id
            )
        raise ServiceUnavailableError(f"writing task {task_id} failed: {error}", task_id=task_id)

    async def create(self, record: TaskRecord) -> int:
        """Create a new record; TransitionConflictError if the id is taken."""
        return await self._write(record.task_id, encode_record(record), 0)

    async def create_encoded(self, task_id: str, payload: bytes) -> int:
        return await self._write(task_id, payload, 0)

    async def put(self, record: TaskRecord, *, last_rev: int) -> int:
        return await self._write(
            record.task_id, encode_update(record, last_rev), last_rev, final=record.is_final
        )

    async def put_encoded(
        self, task_id: str, payload: bytes, *, last_rev: int, final: bool = False
    ) -> int:
        """The hot path's ``put``: ``payload`` packs fields derived from the record read at
        ``last_rev`` through ``models.numbered``, so it carries the number already."""
        return await self._write(task_id, payload, last_rev, final=final)

    async def get_encoded(self, task_id: str) -> tuple[bytes, int]:
        """The stored bytes of the record and its revision; TaskNotFoundError when none."""
        try:
            with nats_errors_as_prsm(f"reading task {task_id}"):
                entry = await self._kv_of(task_id).get(task_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError) as exc:
            raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id) from exc
        if entry.value is None or entry.revision is None:
            raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id)
        return entry.value, entry.revision

    async def get(self, task_id: str) -> tuple[TaskRecord, int]:
        """The current record and its revision; TaskNotFoundError when there is none."""
        value, revision = await self.get_encoded(task_id)
        return decode_record(value, revision), revision

    async def find(self, task_id: str) -> tuple[TaskRecord, int] | None:
        try:
            return await self.get(task_id)
        except TaskNotFoundError:
            return None

    async def delete(self, task_id: str) -> None:
        """Remove a record and its history (used for finished tasks only)."""
        try:
            with nats_errors_as_prsm(f"deleting task {task_id}"):
                await self._kv_of(task_id).purge(task_id)
        except nats.js.errors.KeyNotFoundError as exc:
            raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id) from exc

    async def withdraw(self, task_id: str, rev: int) -> None:
        """Remove a record just created whose work was refused (the work stream is full),
        unless it changed since ``rev``; its purge marker expires when the bucket allows it."""
        headers = {
            "KV-Operation": "PURGE",
            "Nats-Rollup": "sub",
            EXPECTED_LAST_SUBJECT_SEQ: str(rev),
        }
        if self._final_ttl is not None:
            headers[MESSAGE_TTL] = WITHDRAWN_MARKER_TTL
        reply = await self.requests.request(
            self.key_subject(task_id), b"", headers=headers, timeout_s=REQUEST_TIMEOUT_S
        )
        if b'"error"' not in reply:
            return
        error = json.loads(reply)["error"]
        if error.get("err_code") == ERR_WRONG_LAST_SEQUENCE:
            raise TransitionConflictError(
                f"task {task_id} changed since revision {rev}", task_id=task_id
            )
        raise ServiceUnavailableError(
            f"withdrawing task {task_id} failed: {error}", task_id=task_id
        )

    async def transition(
        self,
        task_id: str,
        change: Callable[[TaskRecord], TaskRecord],
        *,
        current: tuple[TaskRecord, int] | None = None,
        attempts: int = 16,
    ) -> tuple[TaskRecord, int]:
        """Apply ``change`` by compare-and-set, re-reading and re-applying on a lost race.

        ``change`` is one of the pure functions of ``models``; when it raises (for example
        because the task reached a final state meanwhile) that error propagates unchanged.
        """
        record, rev = current if current is not None else await self.get(task_id)
        for _ in range(attempts):
            new_record = change(record)
            try:
                new_rev = await self.put(new_record, last_rev=rev)
            except TransitionConflictError:
                record, rev = await self.get(task_id)
                continue
            return new_record, new_rev
        raise TransitionConflictError(
            f"task {task_id} kept changing; gave up after {attempts} tries", task_id=task_id
        )
