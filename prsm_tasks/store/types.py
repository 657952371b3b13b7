"""Task types in the PRSM_TYPES bucket: a name, its queue and the JSON Schema of its task_data.

Producers check ``task_data`` against its type's schema before writing anything (the edge
answers ``invalid_task_data`` naming the field path). Key = type name.
"""

from __future__ import annotations

import time
from typing import Any

import jsonschema
import jsonschema.exceptions
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from prsm_tasks import wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.errors import InvalidTaskDataError, ValidationError
from prsm_tasks.models import RECORD_VERSION
from prsm_tasks.store.work import TASK_TYPE_RE


class TaskTypeRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    v: int = RECORD_VERSION
    name: str
    queue_name: str | None = None
    description: str | None = None
    parameters_schema: dict[str, Any] | None = None
    result_schema: dict[str, Any] | None = None
    updated_at: float = Field(default_factory=time.time)


def decode_type(data: bytes) -> TaskTypeRecord:
    return TaskTypeRecord.model_validate(wire.unpack(data))


def encode_type(record: TaskTypeRecord) -> bytes:
    return wire.pack(record.model_dump(mode="python"))


def check_schema(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for ``schema``; ValidationError when the schema itself is not valid."""
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    try:
        validator_class.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise ValidationError(
            f"parameters_schema is not a valid JSON Schema: {exc.message}",
            field="parameters_schema",
        ) from exc
    return validator_class(schema)


def validate_task_data(
    validator: jsonschema.protocols.Validator, task_data: dict[str, Any], *, task_type: str
) -> None:
    """InvalidTaskDataError naming the path of the first problem (``task_data.a.b``)."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(task_data))
    if error is None:
        return
    path = ".".join(str(part) for part in error.absolute_path)
    field = f"task_data.{path}" if path else "task_data"
    raise InvalidTaskDataError(
        f"{field} does not match the schema of task type {task_type!r}: {error.message}",
        field=field,
    )


class TaskTypeStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> TaskTypeStore:
        with nats_errors_as_prsm("opening the task type bucket"):
            return cls(await js.key_value(wire.TYPES_BUCKET))

    async def get(self, name: str) -> TaskTypeRecord | None:
        try:
            with nats_errors_as_prsm(f"reading task type {name}"):
                entry = await self._kv.get(name)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        return decode_type(entry.value) if entry.value else None

    async def put(self, record: TaskTypeRecord) -> int:
        if not TASK_TYPE_RE.match(record.name) or ":" in record.name:  # ":" is no KV key
            raise ValidationError(f"invalid task type name {record.name!r}", field="name")
        if record.parameters_schema is not None:
            check_schema(record.parameters_schema)
        with nats_errors_as_prsm(f"writing task type {record.name}"):
            return await self._kv.put(record.name, encode_type(record))
