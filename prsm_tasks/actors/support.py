"""What the Runner stands on: its shared dependencies and small pure helpers."""

from __future__ import annotations

import concurrent.futures
import random
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic
from nats.aio.msg import Msg

from prsm_tasks import models, wire
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.models import ErrorInfo, Fields, TaskRecord
from prsm_tasks.store.cancels import CancelMemory
from prsm_tasks.store.events import EventPublisher
from prsm_tasks.store.tasks import TaskStore

if TYPE_CHECKING:
    from prsm_tasks.actors.runner import Runner


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


def is_lapsed_lease(record: TaskRecord, seq: int, deliveries: int) -> bool:
    """Is message ``seq`` the one the record's running attempt came from, redelivered?

    Any other message for a claimed task is a duplicate (a priority change, a late
    re-publish), not a sign that the running node died.
    """
    last = record.attempts[-1] if record.attempts else None
    if last is not None and last.message_seq is not None:
        return last.message_seq == seq
    return deliveries > 1  # a record from before attempts kept their message's sequence


def stored_at(msg: Msg) -> float:
    """When the server stored the message, epoch s ($JS.ACK...<timestamp ns>.<pending>)."""
    return int(msg.reply.rsplit(".", 2)[1]) / 1e9


def stream_sequence(msg: Msg) -> int:
    """The message's sequence in its stream ($JS.ACK.<stream>.<consumer>.<n>.<seq>...)."""
    return int(msg.reply.split(".")[5])


def encode_result(result: Any, *, max_bytes: int) -> tuple[Any, int]:
    """The result as plain data and its encoded size (checked against ``max_bytes``)."""
    if isinstance(result, pydantic.BaseModel):
        result = result.model_dump(mode="json")
    encoded = wire.pack_checked(result, what="handler result", field="result", max_bytes=max_bytes)
    return result, len(encoded)


def read_fields(record_bytes: bytes) -> Fields:
    """The stored record as plain data; a record of another version is validated first."""
    fields = wire.unpack(record_bytes)
    if fields.get("v") != models.RECORD_VERSION:
        fields = models.record_fields(TaskRecord.model_validate(fields))
    return fields


@dataclass(kw_only=True)
class RunnerDeps:
    """What every runner of one node shares."""

    node_id: str
    store: TaskStore
    events: EventPublisher
    registry: HandlerRegistry
    executor: concurrent.futures.ThreadPoolExecutor
    running: dict[str, Runner]
    lease_s: float
    claim_after_s: float
    cancels: CancelMemory | None
    retry_base_s: float
    retry_max_s: float
    max_result_bytes: int
    progress_record_interval_s: float
    progress_event_interval_s: float
    on_progress: Callable[[Runner], None]
    counters: dict[str, int]
    # called with final records this node sees (after writing them, or finding them so on a
    # redelivery, so a crash between write and hook is healed by the redelivery): records of
    # a batch always, every record when ``after_final_all``
    after_final: Callable[[TaskRecord], Awaitable[None]] | None = None
    after_final_all: bool = False
