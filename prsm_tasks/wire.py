"""Names on the bus and the msgpack codec.

Everything that crosses NATS is msgpack of a model dump carrying a ``v`` field; JSON appears
only at the HTTP edge. Subject, stream, bucket and consumer names are built here and nowhere
else.
"""

from __future__ import annotations

import re
from typing import Any

import msgpack
from ulid import ULID

from prsm_tasks.errors import PayloadTooLargeError, ValidationError
from prsm_tasks.models import Band

WORK_STREAM = "PRSM_WORK"
EVENTS_STREAM = "PRSM_EVENTS"
TASKS_BUCKET = "PRSM_TASKS"
NODES_BUCKET = "PRSM_NODES"
IDEMPOTENCY_BUCKET = "PRSM_IDEMPOTENCY"
# task ids cancelled while queued, kept for `cancel_memory_s` (see store/cancels.py)
CANCELS_BUCKET = "PRSM_CANCELS"
BATCHES_BUCKET = "PRSM_BATCHES"
TYPES_BUCKET = "PRSM_TYPES"

WORK_PREFIX = "prsm.work"
EVENTS_PREFIX = "prsm.events"
CANCEL_PREFIX = "prsm.control.cancel"

QUEUE_NAME_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
TASK_ID_RE = re.compile(r"^task_[0-9a-z]{26}$")
TASK_TYPE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")

STANDARD_QUEUES: tuple[str, ...] = (
    "ml_inference_queue",
    "training_queue",
    "model_optimization_queue",
    "data_ingestion_queue",
    "etl_processing_queue",
    "batch_processing_queue",
    "system_maintenance_queue",
    "monitoring_queue",
    "backup_queue",
    "user_requests_queue",
    "notification_queue",
    "analytics_queue",
)


def check_queue_name(queue: object) -> str:
    if not isinstance(queue, str) or not QUEUE_NAME_RE.match(queue):
        raise ValidationError(
            f"queue name must match {QUEUE_NAME_RE.pattern}, got {queue!r}", field="queue_name"
        )
    return queue


def check_task_type(task_type: object) -> str:
    if not isinstance(task_type, str) or not TASK_TYPE_RE.match(task_type):
        raise ValidationError(
            f"task_type must match {TASK_TYPE_RE.pattern}, got {task_type!r}", field="task_type"
        )
    return task_type


def is_task_id(value: str) -> bool:
    return bool(TASK_ID_RE.match(value))


def new_task_id() -> str:
    return "task_" + str(ULID()).lower()


def new_batch_id() -> str:
    return "batch_" + str(ULID()).lower()


BATCH_ID_RE = re.compile(r"^batch_[0-9a-z]{26}$")


def is_batch_id(value: str) -> bool:
    return bool(BATCH_ID_RE.match(value))


def work_subject(queue: str, band: Band | str) -> str:
    return f"{WORK_PREFIX}.{queue}.{band}"


def work_consumer(queue: str, band: Band | str) -> str:
    # durable names may not contain dots; queue names never do
    return f"prsm_{queue}_{band}"


def event_subject(queue: str, task_id: str, event_type: str) -> str:
    return f"{EVENTS_PREFIX}.{queue}.{task_id}.{event_type}"


# the payload of a cancel-subject message that means "its record changed, claim it now"
# (an empty payload is a cancel)
CHANGED_SIGNAL = b"changed"


def cancel_subject(task_id: str) -> str:
    return f"{CANCEL_PREFIX}.{task_id}"


def task_key_subject(task_id: str) -> str:
    return f"$KV.{TASKS_BUCKET}.{task_id}"


# --- codec ---------------------------------------------------------------------------------

_packer_default_types = (set, frozenset, tuple)


def _default(value: Any) -> Any:
    if isinstance(value, _packer_default_types):
        return list(value)
    model_dump = getattr(value, "model_dump", None)
    if model_dump is not None:
        return model_dump(mode="python")
    raise TypeError(f"cannot encode {type(value).__name__}")


def pack(value: Any) -> bytes:
    return msgpack.packb(value, default=_default, use_bin_type=True, datetime=False)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def pack_checked(value: Any, *, what: str, field: str, max_bytes: int) -> bytes:
    """Encode caller data, turning what msgpack refuses into a clear ValidationError."""
    try:
        data = msgpack.packb(value, use_bin_type=True, datetime=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(f"{what} is not serialisable: {exc}", field=field) from exc
    if len(data) > max_bytes:
        raise PayloadTooLargeError(
            f"{what} is {len(data)} bytes encoded, over the limit of {max_bytes}", field=field
        )
    return data


def encode_work(record_rev: int, record_bytes: bytes, *, first: bool) -> bytes:
    """A work message carries the record and its revision, so claiming needs no read.

    ``first``: the task's one original work message (not a re-publish that may duplicate
    it), which lets a node start a short task before writing its claim.
    """
    return msgpack.packb((record_rev, record_bytes, first), use_bin_type=True)


def decode_work(data: bytes) -> tuple[int, bytes, bool]:
    """(record revision, record bytes, first message?)."""
    record_rev, record_bytes, *rest = msgpack.unpackb(data, raw=False)
    return int(record_rev), record_bytes, bool(rest and rest[0])


NODE_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.=-]{0,127}$")


def check_node_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.=-]", "-", name)
    if not NODE_NAME_RE.match(cleaned):
        raise ValidationError(f"invalid node name {name!r}", field="node_name")
    return cleaned
