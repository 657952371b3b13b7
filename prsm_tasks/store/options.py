"""Task options: how a task runs besides its data, checked once where every path builds them.

Also the checks of the data itself and the bucket key of an idempotency key, which every
producer (native client, HTTP edge, batches) applies before anything is written.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from prsm_tasks import wire
from prsm_tasks.errors import InvalidTaskDataError, ValidationError
from prsm_tasks.models import TaskDependency

TASK_TYPE_RE = wire.TASK_TYPE_RE
MAX_RETRIES_LIMIT = 100
MAX_TIMEOUT_S = 7 * 86_400.0


Priority = Annotated[int, Field(ge=1, le=10)]
MaxRetries = Annotated[int, Field(ge=0, le=MAX_RETRIES_LIMIT)]
TimeoutSeconds = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)]
TaskTypeName = Annotated[str, Field(pattern=TASK_TYPE_RE.pattern)]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=255)]
# how far ahead a delayed task may be due: a year (and a day), as timers allow
MAX_DELAY_S = 366 * 86_400.0
CountdownSeconds = Annotated[float, Field(ge=0, le=MAX_DELAY_S, allow_inf_nan=False)]
ScheduledFor = Annotated[float, Field(ge=0, allow_inf_nan=False)]


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
    # a delayed task: due at this epoch time (see ``due_time``); None: due now
    scheduled_for: ScheduledFor | None = None
    # tasks this one waits for (held ``waiting`` until they are met; see models.TaskDependency)
    depends_on: tuple[TaskDependency, ...] | None = None
    # a W3C traceparent, checked where it came in (trace.py)
    trace: str | None = None

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


def parse_eta(text: str | None) -> datetime.datetime | None:
    """An ``eta`` as the HTTP bodies give it: an ISO-8601 string (None: none given)."""
    if text is None:
        return None
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"eta: not an ISO-8601 instant, got {text[:64]!r}", field="eta"
        ) from None


def due_time(
    eta: datetime.datetime | None, countdown_seconds: float | None, *, now: float
) -> float | None:
    """When a delayed task is due, from an ``eta`` (an aware instant) or a
    ``countdown_seconds``; None for neither. Both, a naive ``eta`` or one more than
    MAX_DELAY_S ahead is refused, naming the field. An ``eta`` in the past is due now."""
    if eta is not None and countdown_seconds is not None:
        raise ValidationError(
            "eta, countdown_seconds: give one of them, not both", field="eta,countdown_seconds"
        )
    if countdown_seconds is not None:
        if not math.isfinite(countdown_seconds) or not 0 <= countdown_seconds <= MAX_DELAY_S:
            raise ValidationError(
                f"countdown_seconds: must be between 0 and {MAX_DELAY_S:.0f}, "
                f"got {countdown_seconds!r}",
                field="countdown_seconds",
            )
        return now + countdown_seconds
    if eta is None:
        return None
    if eta.tzinfo is None or eta.utcoffset() is None:
        raise ValidationError(
            "eta: must be an ISO-8601 instant with a time zone (Z or +hh:mm)", field="eta"
        )
    due = eta.timestamp()
    if due > now + MAX_DELAY_S:
        raise ValidationError(
            f"eta: at most {MAX_DELAY_S / 86_400:.0f} days ahead, got {eta.isoformat()}",
            field="eta",
        )
    return max(due, now)


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
