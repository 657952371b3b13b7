"""Task types in the PRSM_TYPES bucket: integer ids, a scope (a tenant, or the system scope
that peer nodes register into), a queue, and the JSON Schema (Draft 2020-12) of their data.

Keys of the bucket:
- ``seq``: the last id handed out; a create takes the next one by compare-and-set, so two
  edges never hand out the same id (a lost race re-reads and tries the next);
- ``id.<id>``: the ``TaskTypeRecord``, changed only by compare-and-set on its revision;
- ``name.<scope>.<name>``: the claim of a name within a scope, written with ``create`` so
  exactly one of two concurrent creates of a name wins; its value is the id.

Producers check task data against its type's schema before writing anything (the edge
answers ``invalid_task_data`` listing every failing field path), and nodes again before
running (see ``prsm_tasks.type_registration``).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from typing import Any

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from prsm_tasks import wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.errors import (
    PayloadTooLargeError,
    TaskTypeConflictError,
    TaskTypeNotFoundError,
    TaskTypeTooLargeError,
    TransitionConflictError,
    UnprocessableError,
    ValidationError,
)
from prsm_tasks.models import RECORD_VERSION
from prsm_tasks.store.options import TASK_TYPE_RE
from prsm_tasks.task_schemas import check_schema

SEQ_KEY = "seq"
RECORD_PREFIX = "id."
SYSTEM_SCOPE = "sys"
MAX_SCHEMA_BYTES = 256 * 1024
ORPHAN_CLAIM_S = 30.0  # a name claim whose record never came: its creator died mid-way
CAS_ATTEMPTS = 64
_PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_QUEUE_UNSAFE = re.compile(r"[^a-z0-9_-]")


# --- names and keys --------------------------------------------------------------------------


def scope_token(tenant: str | None) -> str:
    """A tenant as one KV key token: readable when it can be, else a digest."""
    if tenant is None:
        return SYSTEM_SCOPE
    if _PLAIN_TOKEN.fullmatch(tenant):
        return f"t-{tenant}"
    return "h-" + hashlib.sha256(tenant.encode()).hexdigest()[:40]


def name_token(name: str) -> str:
    if _PLAIN_TOKEN.fullmatch(name):
        return f"n-{name}"
    return "x-" + name.encode().hex()  # "." and ":" are legal in names, not in key tokens


def record_key(type_id: int) -> str:
    return f"{RECORD_PREFIX}{type_id}"


def name_key(tenant: str | None, name: str) -> str:
    return f"name.{scope_token(tenant)}.{name_token(name)}"


def type_id_of_key(key: str) -> int | None:
    if not key.startswith(RECORD_PREFIX):
        return None
    digits = key[len(RECORD_PREFIX) :]
    return int(digits) if digits.isdigit() else None


def queue_for_type(name: str) -> str:
    """The queue of a type that names none: its name lower-cased, every character outside
    ``[a-z0-9_-]`` replaced by ``_``, cut to 64 characters (always a valid queue name)."""
    return _QUEUE_UNSAFE.sub("_", name.lower())[:64]


def check_type_name(name: object) -> str:
    if not isinstance(name, str) or not TASK_TYPE_RE.fullmatch(name):
        raise UnprocessableError(
            f"name must match {TASK_TYPE_RE.pattern}, got {name!r}", field="name"
        )
    return name


def queue_of(name: str, metadata: dict[str, Any]) -> str:
    """``metadata.queue_name`` (checked) when given, else the queue named after the type."""
    queue = metadata.get("queue_name")
    if queue is None:
        return queue_for_type(name)
    if not isinstance(queue, str) or not wire.QUEUE_NAME_RE.fullmatch(queue):
        raise UnprocessableError(
            f"metadata.queue_name must match {wire.QUEUE_NAME_RE.pattern}, got {queue!r}",
            field="metadata.queue_name",
        )
    return queue


def check_size(value: Any, *, field: str, max_bytes: int = MAX_SCHEMA_BYTES) -> None:
    """422: ``task_type_too_large`` above ``max_bytes`` encoded, else what cannot be stored."""
    try:
        wire.pack_checked(value, what=field, field=field, max_bytes=max_bytes)
    except PayloadTooLargeError as exc:
        raise TaskTypeTooLargeError(
            exc.message, field=field, limit="PRSM_MAX_TASK_TYPE_BYTES", maximum=max_bytes
        ) from exc
    except ValidationError as exc:
        raise UnprocessableError(exc.message, field=field) from exc


# --- the record ------------------------------------------------------------------------------


class TaskTypeRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    v: int = RECORD_VERSION
    id: int = 0
    name: str
    tenant: str | None = None  # None: the system scope (registered by peer nodes)
    queue_name: str | None = None  # None: the queue named after the type
    description: str | None = None
    parameters_schema: dict[str, Any] | None = None
    result_schema: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    is_active: bool = True
    created_at: float = Field(default_factory=time.time)
    updated_at: float | None = None
    created_by: str | None = None

    @property
    def queue(self) -> str:
        return self.queue_name or queue_for_type(self.name)

    @property
    def is_system(self) -> bool:
        return self.tenant is None


def decode_type(data: bytes) -> TaskTypeRecord:
    return TaskTypeRecord.model_validate(wire.unpack(data))


def encode_type(record: TaskTypeRecord) -> bytes:
    return wire.pack(record.model_dump(mode="python"))


# --- the store -------------------------------------------------------------------------------


class TaskTypeStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> TaskTypeStore:
        with nats_errors_as_prsm("opening the task type bucket"):
            return cls(await js.key_value(wire.TYPES_BUCKET))

    async def _read(self, key: str) -> tuple[bytes, int] | None:
        try:
            with nats_errors_as_prsm(f"reading {key} of the task types"):
                entry = await self._kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        if entry.value is None or entry.revision is None:
            return None
        return entry.value, entry.revision

    async def _cas(self, key: str, value: bytes, last_rev: int) -> int:
        """Write ``value`` if ``key`` is still at ``last_rev`` (0: must not exist)."""
        try:
            with nats_errors_as_prsm(f"writing {key} of the task types"):
                if last_rev == 0:
                    return await self._kv.create(key, value)
                return await self._kv.update(key, value, last=last_rev)
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise TransitionConflictError(f"{key} changed since revision {last_rev}") from exc

    async def next_id(self) -> int:
        """The next type id: a compare-and-set on the counter, retried on a lost race."""
        for _ in range(CAS_ATTEMPTS):
            current = await self._read(SEQ_KEY)
            last, rev = (int(current[0]), current[1]) if current else (0, 0)
            try:
                await self._cas(SEQ_KEY, str(last + 1).encode(), rev)
            except TransitionConflictError:
                continue  # another edge took this id: read again and take the next
            return last + 1
        raise TransitionConflictError("the task type counter kept changing; try again")

    async def _claim_name(self, tenant: str | None, name: str, type_id: int) -> None:
        key = name_key(tenant, name)
        claim = wire.pack({"id": type_id, "at": time.time()})
        try:
            await self._cas(key, claim, 0)
            return
        except TransitionConflictError:
            pass
        held = await self._read(key)
        if held is not None:
            holder = wire.unpack(held[0])
            orphaned = (
                await self._read(record_key(int(holder["id"]))) is None
                and time.time() - float(holder["at"]) > ORPHAN_CLAIM_S
            )
            if orphaned:
                try:
                    await self._cas(key, claim, held[1])
                    return
                except TransitionConflictError:
                    pass
        scope = f"tenant {tenant!r}" if tenant is not None else "the system scope"
        raise TaskTypeConflictError(f"{scope} already has a task type named {name!r}", field="name")

    async def create(
        self,
        *,
        tenant: str | None,
        name: str,
        description: str | None = None,
        parameters_schema: dict[str, Any] | None = None,
        result_schema: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        queue_name: str | None = None,
        created_by: str | None = None,
    ) -> tuple[TaskTypeRecord, int]:
        """A new type with the next id; TaskTypeConflictError if the scope has the name."""
        metadata = metadata or {}
        check_type_name(name)
        check_size(metadata, field="metadata")
        if parameters_schema is not None:
            check_size(parameters_schema, field="parameters_schema")
            check_schema(parameters_schema)
        record = TaskTypeRecord(
            name=name,
            tenant=tenant,
            queue_name=queue_name or queue_of(name, metadata),
            description=description,
            parameters_schema=parameters_schema,
            result_schema=result_schema,
            metadata=metadata,
            created_by=created_by,
        )
        type_id = await self.next_id()
        record = record.model_copy(update={"id": type_id})
        # name first: a creator that dies after it leaves a claim that expires (ORPHAN_CLAIM_S)
        await self._claim_name(tenant, name, type_id)
        rev = await self._cas(record_key(type_id), encode_type(record), 0)
        return record, rev

    async def get_by_id(self, type_id: int) -> tuple[TaskTypeRecord, int]:
        found = await self._read(record_key(type_id))
        if found is None:
            raise TaskTypeNotFoundError(f"Task type {type_id} not found")
        return decode_type(found[0]), found[1]

    async def find(
        self, name: str, *, tenant: str | None = None
    ) -> tuple[TaskTypeRecord, int] | None:
        """The type named ``name`` in one scope (None: the system scope)."""
        if not TASK_TYPE_RE.fullmatch(name):
            return None
        claim = await self._read(name_key(tenant, name))
        if claim is None:
            return None
        try:
            return await self.get_by_id(int(wire.unpack(claim[0])["id"]))
        except TaskTypeNotFoundError:
            return None

    async def get(self, name: str, *, tenant: str | None = None) -> TaskTypeRecord | None:
        found = await self.find(name, tenant=tenant)
        return found[0] if found is not None else None

    async def update(
        self, type_id: int, change: Callable[[TaskTypeRecord], TaskTypeRecord]
    ) -> tuple[TaskTypeRecord, int]:
        """Apply ``change`` by compare-and-set (re-read and re-applied on a lost race);
        ``updated_at`` is set to now. ``change`` may raise to refuse."""
        for _ in range(CAS_ATTEMPTS):
            record, rev = await self.get_by_id(type_id)
            changed = change(record).model_copy(update={"updated_at": time.time()})
            try:
                return changed, await self._cas(record_key(type_id), encode_type(changed), rev)
            except TransitionConflictError:
                continue
        raise TransitionConflictError(f"task type {type_id} kept changing; try again")

    async def register_system(
        self,
        *,
        name: str,
        queue_name: str,
        parameters_schema: dict[str, Any] | None,
        result_schema: dict[str, Any] | None,
        description: str | None,
    ) -> tuple[TaskTypeRecord, int]:
        """Create or bring up to date a type in the system scope (a peer node's handler).

        A schema the handler does not declare leaves the stored one as it is, and a record
        that already says all this is not written again (nodes restart often).
        """
        found = await self.find(name)
        if found is None:
            try:
                return await self.create(
                    tenant=None,
                    name=name,
                    queue_name=queue_name,
                    description=description,
                    parameters_schema=parameters_schema,
                    result_schema=result_schema,
                    metadata={"registered_by": "node", "queue_name": queue_name},
                )
            except TaskTypeConflictError:
                found = await self.find(name)  # a peer registered it at the same moment
                if found is None:
                    raise
        record, rev = found
        wanted: dict[str, Any] = {
            "queue_name": queue_name,
            "metadata": {**record.metadata, "queue_name": queue_name},
            "is_active": True,
        }
        if parameters_schema is not None:
            wanted["parameters_schema"] = parameters_schema
        if result_schema is not None:
            wanted["result_schema"] = result_schema
        if description and not record.description:
            wanted["description"] = description
        if all(getattr(record, key) == value for key, value in wanted.items()):
            return record, rev
        if parameters_schema is not None:
            check_schema(parameters_schema)
        return await self.update(record.id, lambda current: current.model_copy(update=wanted))
