"""Lean reads for serving HTTP: a task record as a plain dict, JetStream and work stream usage.

``get_raw`` is one direct-get request and a msgpack decode, without building a pydantic
model: /status calls it on every request.
"""

from __future__ import annotations

from typing import Any

import orjson
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from prsm_tasks import wire
from prsm_tasks.bus import Requests, nats_errors_as_prsm
from prsm_tasks.errors import ServiceUnavailableError, TaskNotFoundError

READ_TIMEOUT_S = 5.0
EVENT_BUFFER = 10_000


def direct_get_subject(task_id: str, partitions: int) -> str:
    """The direct-get subject of a task's record, in its partition's bucket."""
    partition = wire.partition_of(task_id, partitions)
    stream = wire.tasks_stream(partition)
    return f"$JS.API.DIRECT.GET.{stream}.{wire.task_key_subject(task_id, partition)}"


def body_only_get(task_id: str, partitions: int) -> tuple[str, bytes]:
    """(subject, request) of a direct get of a task's record that asks for the body alone
    (``no_hdr``, nats-server 2.11+; an older server sends the headers, which changes
    nothing): nats-py parses the five headers of a direct get's answer character by
    character, a sizeable part of the client's CPU for a /status."""
    partition = wire.partition_of(task_id, partitions)
    key = wire.task_key_subject(task_id, partition)
    request = orjson.dumps({"last_by_subj": key, "no_hdr": True})
    return f"$JS.API.DIRECT.GET.{wire.tasks_stream(partition)}", request


async def get_raw(
    source: NatsClient | Requests, task_id: str, *, partitions: int
) -> tuple[dict[str, Any], int]:
    """The task record as a dict and its revision; TaskNotFoundError when there is none.

    ``partitions``: the deployment's (``TaskStore.partitions``), which says the bucket.
    Through a shared ``Requests`` inbox (the cheaper way) the revision is not read: 0, and
    the answer has no headers (``body_only_get``).
    """
    if isinstance(source, Requests):
        # an empty answer is the 404 of a missing key or the marker of a deleted one
        subject, request = body_only_get(task_id, partitions)
        data = await source.request(subject, request, timeout_s=READ_TIMEOUT_S)
        if not data:
            raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id)
        return wire.unpack(data), 0
    nc = source
    subject = direct_get_subject(task_id, partitions)
    with nats_errors_as_prsm(f"reading task {task_id}"):
        msg = await nc.request(subject, b"", timeout=READ_TIMEOUT_S)
    headers = msg.headers or {}
    status = headers.get("Status")
    if status == "404" or headers.get("KV-Operation") in ("DEL", "PURGE") or not msg.data:
        raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id)
    if status is not None:
        raise ServiceUnavailableError(
            f"reading task {task_id} failed: {status} {headers.get('Description', '')}",
            task_id=task_id,
        )
    return wire.unpack(msg.data), int(headers.get("Nats-Sequence", "0"))


async def jetstream_usage(js: JetStreamContext) -> tuple[int, int | None]:
    """(bytes stored by JetStream for this account, its storage limit or None)."""
    with nats_errors_as_prsm("reading JetStream account info"):
        info = await js.account_info()
    limit = info.limits.max_storage
    return info.storage, (limit if limit and limit > 0 else None)


async def work_usage(
    js: JetStreamContext, partitions: int = 1
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The work streams' ((message limit, messages), (byte limit, bytes)), summed over the
    partitions (tasks spread evenly over them); a limit of -1: none."""
    limits, used = [0, 0], [0, 0]
    for partition in range(partitions):
        with nats_errors_as_prsm("reading the work stream"):
            info = await js.stream_info(wire.work_stream(partition))
        for at, (limit, held) in enumerate(
            (
                (info.config.max_msgs or -1, info.state.messages),
                (info.config.max_bytes or -1, info.state.bytes),
            )
        ):
            # one stream without a limit leaves the sum without one
            limits[at] = -1 if limit <= 0 or limits[at] < 0 else limits[at] + limit
            used[at] += held
    return (limits[0], used[0]), (limits[1], used[1])
