"""Task options: how a task runs besides its data, checked once where every path builds them.

Also the checks of the data itself and the bucket key of an idempotency key, which every
producer (native client, HTTP edge, batches) applies before anything is written.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from prsm_tasks import wire
from prsm_tasks.errors import InvalidTaskDataError, ValidationError

TASK_TYPE_RE = wire.TASK_TYPE_RE
MAX_RETRIES_LIMIT = 100
MAX_TIMEOUT_S = 7 * 86_400.0


Priority = Annotated[int, Field(ge=1, le=10)]
MaxRetries = Annotated[int, Field(ge=0, le=MAX_RETRIES_LIMIT)]
TimeoutSeconds = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)]
TaskTypeName = Annotated[str, Field(pattern=TASK_TYPE_RE.pattern)]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=255)]


class TaskOptions(BaseModel):
    """How a task runs, besides its data: every path that creates a task builds one.

    Constructing it is the check (strict: ``True`` is not a priority, ``"5"`` is not one
    either); a bad value raises ValidationError naming its field. The HTTP bodies declare
    their fields with the same types, so a body that validated gives valid options.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    priority: Priority = 5
    max_retries: MaxRetries = 3
    timeout_seconds: TimeoutSeconds = 300.0
    task_type: TaskTypeName | None = None
    idempotency_key: IdempotencyKey | None = None
    batch_id: str | None = None
    metadata: dict[str, Any] | None = None

    def __init__(self, **fields: Any) -> None:
        try:
            super().__init__(**fields)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first.get("loc", ())) or "options"
            value = first.get("input")
            raise ValidationError(
                f"{field}: {first.get('msg', 'invalid value')}, got {value!r}", field=field
            ) from exc


def check_task_data(task_data: object, *, max_bytes: int) -> bytes:
    if not isinstance(task_data, dict):
        raise InvalidTaskDataError(
            f"task_data must be an object (dict), got {type(task_data).__name__}", field="task_data"
        )
    if any(not isinstance(key, str) for key in task_data):
        raise InvalidTaskDataError("task_data keys must be strings", field="task_data")
    return wire.pack_checked(task_data, what="task_data", field="task_data", max_bytes=max_bytes)


def idempotency_digest(tenant: str | None, user: str | None, key: str | None) -> str:
    """The bucket key of an idempotency key, per tenant and user.

    A JSON array keeps the parts apart: no character inside a part can shift them, and a
    missing tenant (null) is not the tenant "None". (Keys written under the earlier NUL-joined
    digest are not found by this one; they expire within the bucket's TTL.)"""
    return hashlib.sha256(json.dumps([tenant, user, key]).encode()).hexdigest()[:40]
