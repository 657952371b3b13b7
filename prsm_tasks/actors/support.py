"""Small pure helpers of the Runner: errors, backoff, delivery counts, results, records."""

from __future__ import annotations

import random
import traceback
from typing import Any

import pydantic
from nats.aio.msg import Msg

from prsm_tasks import models, wire
from prsm_tasks.models import ErrorInfo, Fields, TaskRecord


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


def delivery_count(msg: Msg) -> int:
    """How many times JetStream delivered this message ($JS.ACK.<stream>.<consumer>.<n>...)."""
    return int(msg.reply.split(".")[4])


def encode_result(result: Any, *, max_bytes: int) -> Any:
    if isinstance(result, pydantic.BaseModel):
        result = result.model_dump(mode="json")
    wire.pack_checked(result, what="handler result", field="result", max_bytes=max_bytes)
    return result


def read_fields(record_bytes: bytes) -> Fields:
    """The stored record as plain data; a record of another version is validated first."""
    fields = wire.unpack(record_bytes)
    if fields.get("v") != models.RECORD_VERSION:
        fields = models.record_fields(TaskRecord.model_validate(fields))
    return fields
