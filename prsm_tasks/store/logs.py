"""PRSM_LOGS: what handlers logged, one message per attempt's batch of lines.

Subjects are ``prsm.logs.<queue>.<task_id>.<attempt>``, so one attempt's lines, or a task's,
are read back by subject filter with batched direct gets (any edge, no consumer), oldest
first. A node publishes through an ``EventPublisher`` of its own for this stream (batched,
one ack per batch, off the handler's path). The stream's retention is its own
(``PRSM_LOGS_MAX_AGE_SECONDS``, ``PRSM_LOGS_MAX_BYTES``).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from prsm_tasks import wire
from prsm_tasks.bus import NATS_DOWN_ERRORS, nats_errors_as_prsm
from prsm_tasks.errors import ServiceUnavailableError
from prsm_tasks.models import RECORD_VERSION

log = structlog.get_logger("prsm.logs")

DIRECT_GET_SUBJECT = f"$JS.API.DIRECT.GET.{wire.LOGS_STREAM}"
READ_TIMEOUT_S = 5.0
PAGE_MESSAGES = 256
PAGE_BYTES = 1_048_576
MAX_LINES_READ = 100_000  # a task's whole log is bounded by its attempts times the per-attempt cap


@dataclass(frozen=True, slots=True)
class StoredLine:
    timestamp: float
    level: str
    message: str
    attempt: int


def chunk_payload(
    *, task_id: str, queue_name: str, attempt: int, lines: list[tuple[float, str, str]]
) -> dict[str, Any]:
    """One batch of an attempt's lines, as stored (msgpack) in PRSM_LOGS."""
    return {
        "v": RECORD_VERSION,
        "task_id": task_id,
        "queue_name": queue_name,
        "attempt": attempt,
        "lines": [list(line) for line in lines],
    }


def chunk_subject_of(payload: dict[str, Any]) -> str:
    return wire.log_subject(payload["queue_name"], payload["task_id"], payload["attempt"])


def logs_filter(task_id: str, queue_name: str, attempt: int | None = None) -> str:
    return f"{wire.LOGS_PREFIX}.{queue_name}.{task_id}.{'*' if attempt is None else attempt}"


def _lines_of(data: bytes) -> list[StoredLine]:
    chunk = wire.unpack(data)
    attempt = int(chunk["attempt"])
    return [
        StoredLine(timestamp=float(stamp), level=str(level), message=str(message), attempt=attempt)
        for stamp, level, message in chunk["lines"]
    ]


async def read_lines(
    nc: NatsClient,
    task_id: str,
    queue_name: str,
    *,
    attempt: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[StoredLine]:
    """A task's stored lines (one attempt's, with ``attempt``), oldest first: ``limit``
    lines after the first ``offset``."""
    wanted: list[StoredLine] = []
    skipped = 0
    inbox = nc.new_inbox()
    with nats_errors_as_prsm("reading task logs"):
        sub = await nc.subscribe(inbox, pending_msgs_limit=2 * PAGE_MESSAGES)
    try:
        next_seq = 1
        subject_filter = logs_filter(task_id, queue_name, attempt)
        while len(wanted) < limit and skipped < MAX_LINES_READ:
            request = {
                "seq": next_seq,
                "next_by_subj": subject_filter,
                "batch": PAGE_MESSAGES,
                "max_bytes": PAGE_BYTES,
            }
            with nats_errors_as_prsm("reading task logs"):
                await nc.publish(DIRECT_GET_SUBJECT, json.dumps(request).encode(), reply=inbox)
            more = False
            async for seq, data in _page(sub):
                next_seq, more = seq + 1, True
                try:
                    lines = _lines_of(data)
                except (ValueError, TypeError, KeyError) as exc:
                    log.warning("log_chunk_unreadable", seq=seq, error=repr(exc))
                    continue
                for line in lines:
                    if skipped < offset:
                        skipped += 1
                    elif len(wanted) < limit:
                        wanted.append(line)
            if not more:
                break
    finally:
        with contextlib.suppress(nats.errors.Error, *NATS_DOWN_ERRORS):
            await sub.unsubscribe()
    return wanted


async def _page(sub: Any) -> Any:
    """(sequence, data) of each stored message a batched direct get answered."""
    while True:
        with nats_errors_as_prsm("reading task logs"):
            msg = await sub.next_msg(timeout=READ_TIMEOUT_S)
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            yield int(headers["Nats-Sequence"]), msg.data
            if "Nats-Num-Pending" not in headers:
                return  # a server without batched gets answers one message per request
            continue
        if status in ("404", "204"):  # nothing (more) stored / the end of the batch
            return
        raise ServiceUnavailableError(
            f"reading task logs failed: {status} {headers.get('Description', '')}"
        )


async def purge_task_logs(js: JetStreamContext, task_id: str, queue_name: str) -> None:
    """Remove a task's lines (DELETE of a finished task)."""
    with nats_errors_as_prsm("removing task logs"):
        await js.purge_stream(wire.LOGS_STREAM, subject=logs_filter(task_id, queue_name))
