"""Names on the bus and the msgpack codec.

Everything that crosses NATS is msgpack of a model dump carrying a ``v`` field; JSON appears
only at the HTTP edge. Subject, stream, bucket and consumer names are built here and nowhere
else.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from typing import Any

import msgpack
import orjson
from ulid import ULID

from prsm_tasks.errors import InvalidTaskDataError, PayloadTooLargeError, ValidationError
from prsm_tasks.models import Band

WORK_STREAM = "PRSM_WORK"
EVENTS_STREAM = "PRSM_EVENTS"
# what handlers log through ctx.logger, per attempt (see store/logs.py)
LOGS_STREAM = "PRSM_LOGS"
TASKS_BUCKET = "PRSM_TASKS"
NODES_BUCKET = "PRSM_NODES"
IDEMPOTENCY_BUCKET = "PRSM_IDEMPOTENCY"
# task ids cancelled while queued, kept for `cancel_memory_s` (see store/cancels.py)
CANCELS_BUCKET = "PRSM_CANCELS"
BATCHES_BUCKET = "PRSM_BATCHES"
TYPES_BUCKET = "PRSM_TYPES"
# secrets every edge of the deployment shares, one key each (see store/keys.py)
KEYS_BUCKET = "PRSM_KEYS"
STREAM_GRANT_KEY = "stream_grant.v1"
# work one node does for the whole deployment, held by a lease (see store/leases.py)
LEASES_BUCKET = "PRSM_LEASES"
REPAIR_LEASE = "repair"
# what every process of the deployment must agree on, created once (see topology.py)
META_BUCKET = "PRSM_META"
# schedules (the scheduler API's "tasks"), key = a UUID (see store/schedules.py)
SCHEDULES_BUCKET = "PRSM_SCHEDULES"
ALERT_RULES_BUCKET = "PRSM_ALERT_RULES"  # key = rule id (a uuid hex)
ALERTS_BUCKET = "PRSM_ALERTS"  # key = <rule id>.<episode>
ALERTS_PREFIX = "prsm.alerts"  # prsm.alerts.<scope token>: alerts fired and resolved
# a persistent job's last checkpoint, by task id (store/checkpoints.py)
CHECKPOINTS_BUCKET = "PRSM_CHECKPOINTS"
PARTITIONS_KEY = "partitions"
MAX_PARTITIONS = 64
# timers the server holds (message schedules, see store/timers.py): one stream per deployment
TIMERS_STREAM = "PRSM_TIMERS"
TIMERS_PREFIX = "prsm.timers"
TIMER_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
TIMER_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

WORK_PREFIX = "prsm.work"
EVENTS_PREFIX = "prsm.events"
LOGS_PREFIX = "prsm.logs"
CANCEL_PREFIX = "prsm.control.cancel"

# Every name check is a full match (``fullmatch``): with ``match``, ``$`` also matches before
# a trailing newline, and "abc\n" would pass, then break the subject it is put in. The
# patterns keep ``^...$``: the OpenAPI document and pydantic publish them, and there ``$``
# (ECMA-262, Rust regex) is the end of the text, as ``fullmatch`` makes it here.
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
    if not isinstance(queue, str) or not QUEUE_NAME_RE.fullmatch(queue):
        raise ValidationError(
            f"queue name must match {QUEUE_NAME_RE.pattern}, got {queue!r}", field="queue_name"
        )
    return queue


def check_task_type(task_type: object) -> str:
    if not isinstance(task_type, str) or not TASK_TYPE_RE.fullmatch(task_type):
        raise ValidationError(
            f"task_type must match {TASK_TYPE_RE.pattern}, got {task_type!r}", field="task_type"
        )
    return task_type


def is_task_id(value: str) -> bool:
    return isinstance(value, str) and TASK_ID_RE.fullmatch(value) is not None


def new_task_id() -> str:
    return "task_" + str(ULID()).lower()


def check_timer_name(kind: object, key: object) -> tuple[str, str]:
    """A timer's (kind, key): each becomes one subject token, so both are checked in full."""
    if not isinstance(kind, str) or not TIMER_KIND_RE.fullmatch(kind):
        raise ValidationError(
            f"timer kind must match {TIMER_KIND_RE.pattern}, got {kind!r}", field="kind"
        )
    if not isinstance(key, str) or not TIMER_KEY_RE.fullmatch(key):
        raise ValidationError(
            f"timer key must match {TIMER_KEY_RE.pattern}, got {key!r}", field="key"
        )
    return kind, key


def timer_pending_subject(kind: str, key: str) -> str:
    """Where a timer waits (its schedule message: one per subject, a new one replaces it)."""
    return f"{TIMERS_PREFIX}.at.{kind}.{key}"


def timer_fire_subject(kind: str, key: str = "*") -> str:
    """Where the server puts a timer's message when it fires (``*``: every key of a kind)."""
    return f"{TIMERS_PREFIX}.fire.{kind}.{key}"


def timer_consumer(kind: str) -> str:
    """The durable consumer of a kind's fires, shared by every node with a handler for it."""
    return f"prsm_timers_{kind}"


def new_batch_id() -> str:
    return "batch_" + str(ULID()).lower()


BATCH_ID_RE = re.compile(r"^batch_[0-9a-z]{26}$")


def is_batch_id(value: str) -> bool:
    return isinstance(value, str) and BATCH_ID_RE.fullmatch(value) is not None


# --- partitions ----------------------------------------------------------------------------
# A task lives in one of P partitions: partition 0 is the original work stream and task
# bucket, names unchanged, so a deployment with one partition is the one it always was;
# partition p >= 1 has its own stream and bucket with a suffix. Work subjects of partition p
# start with ``prsm.work_<p>``: a first token no other partition's subjects share, so the
# streams' subjects never overlap.


def partition_of(task_id: str, partitions: int) -> int:
    """The partition of a task: a stable hash of its id (the same in every process and
    version), so a record is found from its id alone and one busy queue spreads over all."""
    if partitions <= 1:
        return 0
    return zlib.crc32(task_id.encode()) % partitions


def work_stream(partition: int = 0) -> str:
    return WORK_STREAM if partition == 0 else f"{WORK_STREAM}_{partition}"


def work_prefix(partition: int = 0) -> str:
    return WORK_PREFIX if partition == 0 else f"{WORK_PREFIX}_{partition}"


def tasks_bucket(partition: int = 0) -> str:
    return TASKS_BUCKET if partition == 0 else f"{TASKS_BUCKET}_{partition}"


def tasks_stream(partition: int = 0) -> str:
    """The stream under the task bucket of ``partition``."""
    return f"KV_{tasks_bucket(partition)}"


def repair_lease(partition: int = 0) -> str:
    """Each partition's repair has its own lease (and cursor): nodes share them out."""
    return REPAIR_LEASE if partition == 0 else f"{REPAIR_LEASE}_{partition}"


def deployment_task_number(number: int, task_id: str, partitions: int) -> int:
    """A task's number across the deployment, from ``number``, the create revision in its
    partition's bucket (``models.task_number``): revisions repeat across buckets, so with
    several partitions the number is ``revision * partitions + partition``, unique and
    unchanged with one partition."""
    if partitions <= 1:
        return number
    return number * partitions + partition_of(task_id, partitions)


def work_subject(queue: str, band: Band | str, partition: int = 0) -> str:
    return f"{work_prefix(partition)}.{queue}.{band}"


def work_consumer(queue: str, band: Band | str) -> str:
    # durable names may not contain dots; queue names never do
    return f"prsm_{queue}_{band}"


# one token of a subject: no dot, no wildcard, nothing the protocol reads as a separator
# (a newline in a PUB line makes the server drop the connection, and every publish with it)
SUBJECT_TOKEN_RE = re.compile(r"^[^\x00-\x20\x7f.*>]{1,256}$")


def event_subject(queue: str, task_id: str, event_type: str) -> str:
    """The subject of a task event; ValidationError if a part is not one subject token."""
    for field, token in (("queue_name", queue), ("task_id", task_id), ("event_type", event_type)):
        if not isinstance(token, str) or not SUBJECT_TOKEN_RE.fullmatch(token):
            raise ValidationError(f"{field} {token!r} is not a subject token", field=field)
    return f"{EVENTS_PREFIX}.{queue}.{task_id}.{event_type}"


def log_subject(queue: str, task_id: str, attempt: int) -> str:
    """The subject of an attempt's log lines; ValidationError if a part is not one token."""
    for field, token in (("queue_name", queue), ("task_id", task_id)):
        if not isinstance(token, str) or not SUBJECT_TOKEN_RE.fullmatch(token):
            raise ValidationError(f"{field} {token!r} is not a subject token", field=field)
    return f"{LOGS_PREFIX}.{queue}.{task_id}.{int(attempt)}"


# the payload of a cancel-subject message that means "its record changed, claim it now"
# (an empty payload is a cancel)
CHANGED_SIGNAL = b"changed"


def cancel_subject(task_id: str) -> str:
    return f"{CANCEL_PREFIX}.{task_id}"


_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def alerts_subject(scope: str) -> str:
    """``prsm.alerts.<scope>``: the scope itself when it is a plain token (a brand id, most
    tenant names), else ``~`` and a digest of it (no plain token has ``~``, so two scopes
    never share a subject)."""
    if _SAFE_TOKEN.fullmatch(scope):
        return f"{ALERTS_PREFIX}.{scope}"
    return f"{ALERTS_PREFIX}.~{hashlib.sha256(scope.encode()).hexdigest()[:32]}"


def task_key_subject(task_id: str, partition: int = 0) -> str:
    """The subject of a task's key in the bucket of ``partition`` (``partition_of``)."""
    return f"$KV.{tasks_bucket(partition)}.{task_id}"


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
    """Encode caller data, turning what msgpack refuses into a clear ValidationError: too
    deep (``MAX_DEPTH``), an integer it cannot carry, a type it cannot encode, too large."""
    check_depth(value, field=field)
    try:
        data = msgpack.packb(value, use_bin_type=True, datetime=False)
    except OverflowError as exc:
        parts = find_wide_integer(value)
        if parts is None:
            raise ValidationError(f"{what} is not serialisable: {exc}", field=field) from exc
        raise wide_integer_error(field, parts) from exc
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} is not serialisable: {exc}", field=field) from exc
    if len(data) > max_bytes:
        raise PayloadTooLargeError(
            f"{what} is {len(data)} bytes encoded, over the limit of {max_bytes}", field=field
        )
    return data


# --- depth ----------------------------------------------------------------------------------

# how deeply a caller's document may nest: task data and results, a type's schema and
# metadata, any part of a request body. Every answer that carries one adds a few levels of its
# own, and JSON is written by orjson, which stops at 254: deeper input would be stored and
# then answer 500 wherever it is shown (docs/configuration.md, "Fixed limits")
MAX_DEPTH = 64
# the levels of a request body around such a document: {"tasks": [{"task_data": ...}]}
BODY_ENVELOPE_DEPTH = 3
_CONTAINERS = (dict, list, tuple)


def nested_too_deep(value: Any, limit: int) -> tuple[str | int, ...] | None:
    """The path to the first container nested more than ``limit`` levels deep (a container is
    one level, a scalar none), or None. Iterative, visiting each container once: linear time
    and no recursion whatever the input."""
    if not isinstance(value, _CONTAINERS):
        return None
    parents: list[tuple[int, str | int]] = [(-1, "")]  # per container: (parent, its key)
    pending: list[tuple[Any, int, int]] = [(value, 1, 0)]  # (container, depth, its node)
    while pending:
        item, depth, node = pending.pop()
        if depth > limit:
            return _path_of(parents, node)
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in children:
            if isinstance(child, _CONTAINERS):
                parents.append((node, key if isinstance(key, int) else str(key)))
                pending.append((child, depth + 1, len(parents) - 1))
    return None


def _path_of(parents: list[tuple[int, str | int]], node: int) -> tuple[str | int, ...]:
    path: list[str | int] = []
    while node > 0:
        node, key = parents[node]
        path.append(key)
    return tuple(reversed(path))


def depth_error(field: str, error: type[ValidationError] | None = None) -> ValidationError:
    """The error for ``field`` nested too deeply: ``invalid_task_data`` inside task data,
    unless the caller names the class."""
    if error is None:
        in_task_data = TASK_DATA_FIELDS.intersection(field.replace("[", ".").split("."))
        error = InvalidTaskDataError if in_task_data else ValidationError
    return error(f"{field} is nested deeper than {MAX_DEPTH} levels", field=field)


def check_depth(value: Any, *, field: str, error: type[ValidationError] | None = None) -> None:
    """Refuse ``value`` (the content of ``field``) if it nests more than ``MAX_DEPTH`` levels."""
    if nested_too_deep(value, MAX_DEPTH) is not None:
        raise depth_error(field, error)


def body_field(parts: tuple[str | int, ...]) -> str:
    """The body field a path lies in: ``task_data``, ``tasks[2].task_data``."""
    if not parts or isinstance(parts[0], int):
        return "body"
    head = parts[:3] if len(parts) > 1 and isinstance(parts[1], int) else parts[:1]
    return format_path("", head)


def check_body_depth(data: Any, raw: bytes) -> None:
    """A body whose fields nest deeper than ``MAX_DEPTH`` is refused, naming the field.

    A body with fewer brackets than that cannot be so deep (bytes.count is cheap)."""
    limit = MAX_DEPTH + BODY_ENVELOPE_DEPTH
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return
    parts = nested_too_deep(data, limit)
    if parts is not None:
        raise depth_error(body_field(parts))


# --- exact JSON -----------------------------------------------------------------------------

# the integers the wire (msgpack) carries exactly: int64 and uint64. orjson reads a JSON
# integer beyond them as a float, so 10**40 would reach a handler as 1e+40
WIRE_INT_MIN = -(2**63)
WIRE_INT_MAX = 2**64 - 1
# an integer outside that range has at least 19 digits: only a body with such a run of
# digits (in a number, a string or a float's mantissa) needs the second, exact read
_LONG_DIGIT_RUN = re.compile(rb"[0-9]{19}")
# body fields whose content is the caller's task data (an error there is invalid_task_data)
TASK_DATA_FIELDS = frozenset({"task_data", "parameters"})


def wide_integer_error(root: str, parts: tuple[str | int, ...]) -> ValidationError:
    """The error for an integer the wire cannot carry at ``parts`` below ``root``: naming its
    field, and ``invalid_task_data`` when it is inside the caller's task data."""
    where = format_path(root, parts)
    message = (
        f"{where}: integer outside the range carried exactly "
        f"({WIRE_INT_MIN}..{WIRE_INT_MAX}); send it as a string"
    )
    if TASK_DATA_FIELDS.intersection((root, *parts)):
        return InvalidTaskDataError(message, field=where)
    return ValidationError(message, field=where)


def format_path(root: str, parts: tuple[str | int, ...]) -> str:
    """``("tasks", 2, "task_data", "n")`` as ``tasks[2].task_data.n`` (after ``root``)."""
    path = root
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def find_wide_integer(value: Any) -> tuple[str | int, ...] | None:
    """The path to the first integer the wire cannot carry exactly, if there is one.

    Iterative, so a deep document cannot exhaust the stack."""
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            pending.extend(((*path, str(key)), child) for key, child in reversed(item.items()))
        elif isinstance(item, list | tuple):
            indexed = reversed(list(enumerate(item)))
            pending.extend(((*path, index), child) for index, child in indexed)
        elif isinstance(item, int) and not WIRE_INT_MIN <= item <= WIRE_INT_MAX:
            return path  # (a bool is an int in range)
    return None


def loads_exact(raw: bytes) -> Any:
    """A JSON document as orjson reads it, refusing an integer the wire cannot carry exactly.

    Raises ``orjson.JSONDecodeError`` for invalid JSON, ``InvalidTaskDataError`` for such an
    integer inside a task-data field (``task_data``, ``parameters``) and ``ValidationError``
    elsewhere, naming the field either way (``tasks[2].task_data.n``); the same for a field
    nested deeper than ``MAX_DEPTH`` (``task_data is nested deeper than 64 levels``)."""
    data = orjson.loads(raw)
    check_body_depth(data, raw)
    if _LONG_DIGIT_RUN.search(raw) is None:
        return data
    try:
        exact = json.loads(raw)  # integers of any size, as written
    except (ValueError, RecursionError) as exc:
        # orjson read it but the exact read cannot (nesting near orjson's limit): refusing is
        # the only way not to pass on a wide integer as a float
        message = f"the request body cannot be read exactly: {exc}"
        raise ValidationError(message, field="body") from exc
    parts = find_wide_integer(exact)
    if parts is None:
        return data
    raise wide_integer_error("", parts)


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
    if not NODE_NAME_RE.fullmatch(cleaned):
        raise ValidationError(f"invalid node name {name!r}", field="node_name")
    return cleaned
