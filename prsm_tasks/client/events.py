"""Reading task events from PRSM_EVENTS: ``async for event in client.events(...)``.

One JetStream ordered consumer per iteration (memory storage, no acks, recreated by nats-py
after a gap), filtered by subject on the server: ``prsm.events.<queue>.<task_id>.<type>`` with
``*`` for what the caller left open. Where replay starts:

- ``since`` a ``datetime``: events stored at or after it;
- ``since`` an ``int``: events whose stream sequence is at least it (an event's ``seq``, plus
  one, resumes after it);
- ``since`` None: a task's whole stored history when ``task_id`` is given, else new events only.

With ``task_id`` the iteration ends after the task's final event (``until_final``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Iterable
from typing import Any, get_args

import nats.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from prsm_tasks import wire
from prsm_tasks.bus import NATS_DOWN_ERRORS, nats_errors_as_prsm
from prsm_tasks.errors import ValidationError
from prsm_tasks.messages import EventType, TaskEvent

log = structlog.get_logger("prsm.client.events")

EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))
BUFFER_EVENTS = 10_000

Since = datetime.datetime | int | None


def check_event_types(event_types: Iterable[str] | None) -> frozenset[str] | None:
    if event_types is None:
        return None
    if isinstance(event_types, str):
        event_types = [event_types]
    chosen = frozenset(event_types)
    unknown = sorted(chosen - EVENT_TYPES)
    if unknown or not chosen:
        raise ValidationError(
            f"event_types must be among {sorted(EVENT_TYPES)}, got {unknown or 'nothing'}",
            field="event_types",
        )
    return chosen


def events_filter(
    *, task_id: str | None, queue: str | None, event_types: frozenset[str] | None
) -> str:
    """The subject filter; several event types are filtered after delivery instead."""
    queue_part = wire.check_queue_name(queue) if queue is not None else "*"
    if task_id is not None and not wire.is_task_id(task_id):
        raise ValidationError(f"not a task id: {task_id!r}", field="task_id")
    task_part = task_id or "*"
    type_part = next(iter(event_types)) if event_types and len(event_types) == 1 else "*"
    return f"{wire.EVENTS_PREFIX}.{queue_part}.{task_part}.{type_part}"


def start_config(since: Since, *, task_id: str | None) -> ConsumerConfig:
    config = ConsumerConfig(mem_storage=True, inactive_threshold=30.0)
    if isinstance(since, datetime.datetime):
        if since.tzinfo is None:
            raise ValidationError("since must be timezone-aware", field="since")
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = since.astimezone(datetime.UTC)
    elif isinstance(since, int) and not isinstance(since, bool):
        if since < 1:
            raise ValidationError("since as a stream sequence starts at 1", field="since")
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = since
    elif since is None:
        config.deliver_policy = DeliverPolicy.ALL if task_id else DeliverPolicy.NEW
    else:
        raise ValidationError("since must be a datetime, a stream sequence or None", field="since")
    return config


def decode_event(msg: Msg) -> TaskEvent:
    event = TaskEvent.model_validate(wire.unpack(msg.data))
    event.seq = msg.metadata.sequence.stream
    return event


async def iter_events(
    js: JetStreamContext,
    *,
    task_id: str | None = None,
    queue: str | None = None,
    event_types: Iterable[str] | None = None,
    since: Since = None,
    until_final: bool | None = None,
) -> AsyncIterator[TaskEvent]:
    """Events in stream order; see the module doc for the arguments."""
    wanted = check_event_types(event_types)
    subject = events_filter(task_id=task_id, queue=queue, event_types=wanted)
    config = start_config(since, task_id=task_id)
    stop_at_final = bool(task_id) if until_final is None else until_final
    inbox: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        inbox.put_nowait(msg)

    with nats_errors_as_prsm("subscribing to task events"):
        sub = await js.subscribe(
            subject,
            stream=wire.EVENTS_STREAM,
            cb=on_msg,
            ordered_consumer=True,
            config=config,
            pending_msgs_limit=BUFFER_EVENTS,
        )
    try:
        while True:
            msg = await inbox.get()
            try:
                event = decode_event(msg)
            except (ValueError, TypeError) as exc:  # not ours, or a newer payload version
                log.warning("event_unreadable", subject=msg.subject, error=repr(exc))
                continue
            if wanted is None or event.event_type in wanted:
                yield event
            if stop_at_final and event.is_final:
                return
    finally:
        with contextlib.suppress(nats.errors.Error, *NATS_DOWN_ERRORS):
            await sub.unsubscribe()


def describe(event: TaskEvent) -> dict[str, Any]:
    """One printable line's worth of an event (the example subscriber uses it)."""
    return {"seq": event.seq, **event.public_dict()}
