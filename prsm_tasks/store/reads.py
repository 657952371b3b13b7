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

DIRECT_GET = f"$JS.API.DIRECT.GET.KV_{wire.TASKS_BUCKET}"
READ_TIMEOUT_S = 5.0
EVENT_BUFFER = 10_000


async def get_raw(source: NatsClient | Requests, task_id: str) -> tuple[dict[str, Any], int]:
    """The task record as a dict and its revision; TaskNotFoundError when there is none.

    Through a shared ``Requests`` inbox (the cheaper way) the revision is not read: 0, and
    the answer comes without headers (``no_hdr``, nats-server 2.11+; an older server sends
    them, which changes nothing here): parsing the five a direct get answers with is a
    sizeable part of the client's CPU for a /status.
    """
    key = wire.task_key_subject(task_id)
    if isinstance(source, Requests):
        # an empty answer is the 404 of a missing key or the marker of a deleted one
        request = orjson.dumps({"last_by_subj": key, "no_hdr": True})
        data = await source.request(DIRECT_GET, request, timeout_s=READ_TIMEOUT_S)
        if not data:
            raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id)
        return wire.unpack(data), 0
    nc = source
    with nats_errors_as_prsm(f"reading task {task_id}"):
        msg = await nc.request(f"{DIRECT_GET}.{key}", b"", timeout=READ_TIMEOUT_S)
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


async def work_usage(js: JetStreamContext) -> tuple[tuple[int, int], tuple[int, int]]:
    """PRSM_WORK's ((message limit, messages), (byte limit, bytes)); a limit of -1: none."""
    with nats_errors_as_prsm("reading the work stream"):
        info = await js.stream_info(wire.WORK_STREAM)
    return (
        (info.config.max_msgs or -1, info.state.messages),
        (info.config.max_bytes or -1, info.state.bytes),
    )
