"""Server-Sent Events of task events: one task (``/tasks/{id}/events``) or all one may see.

Each message is ``event: task_event``, ``id: <PRSM_EVENTS stream sequence>``, ``data: <the
event JSON>``. A task stream replays the task's stored events after ``Last-Event-ID`` (all of
them without one), follows live through the edge's shared ``EventHub``, and ends after the
final event. A reconnect whose ``Last-Event-ID`` already is the final event gets ``204 No
Content``, which stops a browser's EventSource from reconnecting. Idle streams carry a
``: keep-alive`` comment every ``heartbeat_s`` so proxies keep them open.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import orjson
import structlog
from aiohttp import web

from prsm_tasks import wire
from prsm_tasks.edge.http.state import STATE
from prsm_tasks.errors import PrsmError, ValidationError
from prsm_tasks.messages import TaskEvent
from prsm_tasks.services.event_hub import EventHub, Listener, queue_filter, task_filter

log = structlog.get_logger("prsm.edge.sse")

HEARTBEAT_S = 15.0
FINAL_EVENT_GRACE_S = 5.0  # a final record whose event is not stored yet: wait this long
RETRY_MS = 2000
OWNER_CACHE_SIZE = 50_000
MAX_STREAM_SEQUENCE = 2**63 - 1  # JetStream sequences are uint64; it refuses larger ones

Owner = tuple[str | None, str | None]  # (user, tenant) of a task
OwnerLoader = Callable[[str], Awaitable[Owner | None]]


def stream_url(request: web.Request, path: str) -> str:
    """The absolute URL of ``path`` on the edge that answers ``request``, as its client
    reaches it (the public URL, or what trusted proxies forwarded: edge/http/origin.py)."""
    return request.app[STATE].config.origin.url_of(request, path)


def last_event_id(request: web.Request) -> int:
    """``Last-Event-ID`` (header, or ``last_event_id`` query parameter); 0 when absent."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id") or ""
    if not raw.strip():
        return 0
    try:
        value = int(raw.strip())
    except ValueError as exc:
        raise ValidationError("Last-Event-ID must be an event id", field="Last-Event-ID") from exc
    if not 0 <= value <= MAX_STREAM_SEQUENCE:
        raise ValidationError("Last-Event-ID must be an event id", field="Last-Event-ID")
    return value


def sse_message(event: TaskEvent) -> bytes:
    data = orjson.dumps(event.public_dict())
    return b"event: task_event\nid: %d\ndata: %s\n\n" % (event.seq or 0, data)


class SseStream:
    """A prepared text/event-stream response; writes return False once the client is gone."""

    def __init__(self, request: web.Request, *, heartbeat_s: float) -> None:
        self.request = request
        self.heartbeat_s = heartbeat_s
        self.response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
            }
        )
        self.last_seq = 0
        self.open = True

    async def prepare(self) -> None:
        await self.response.prepare(self.request)
        await self._write(b"retry: %d\n\n" % RETRY_MS)

    async def _write(self, data: bytes) -> bool:
        if not self.open:
            return False
        try:
            await self.response.write(data)
        except (ConnectionResetError, RuntimeError, OSError):
            self.open = False  # the client went away
        return self.open

    async def send(self, event: TaskEvent) -> bool:
        if event.seq is not None and event.seq <= self.last_seq:
            return self.open  # already sent (replay and live overlap)
        self.last_seq = event.seq or self.last_seq
        return await self._write(sse_message(event))

    async def heartbeat(self) -> bool:
        return await self._write(b": keep-alive\n\n")

    async def next_live(self, listener: Listener, *, timeout_s: float) -> TaskEvent | None:
        """The next live event, or None after ``timeout_s`` (a heartbeat is due)."""
        try:
            async with asyncio.timeout(timeout_s):
                event = await listener.events.get()
        except TimeoutError:
            return None
        if listener.closed:
            self.open = False  # the edge is shutting down
            return None
        return event

    async def finish(self) -> web.StreamResponse:
        if self.open:
            with contextlib.suppress(ConnectionResetError, RuntimeError, OSError):
                await self.response.write_eof()
        return self.response


async def is_final_event_at(hub: EventHub, task_id: str, seq: int) -> bool:
    """Is the stored event ``seq`` this task's final event? (the caught-up reconnect)"""
    async for event in hub.replay(task_filter(task_id), after_seq=seq - 1, limit=1):
        return event.seq == seq and event.is_final
    return False


async def stream_task_events(
    request: web.Request,
    hub: EventHub,
    *,
    task_id: str,
    queue_name: str,
    record_is_final: bool,
    heartbeat_s: float = HEARTBEAT_S,
) -> web.StreamResponse:
    """The SSE answer for one task whose record the caller may see."""
    after = last_event_id(request)
    subject_filter = task_filter(task_id, queue_name)
    with hub.listen(task_id=task_id) as listener:
        # registered before replaying: whatever is stored from now on also arrives live
        backlog = [event async for event in hub.replay(subject_filter, after_seq=after)]
        if not backlog and after > 0 and await is_final_event_at(hub, task_id, after):
            return web.Response(status=204)
        stream = SseStream(request, heartbeat_s=heartbeat_s)
        stream.last_seq = after
        await stream.prepare()
        try:
            for event in backlog:
                if not await stream.send(event) or event.is_final:
                    return await stream.finish()
            grace_until = time.monotonic() + FINAL_EVENT_GRACE_S if record_is_final else None
            while stream.open:
                if listener.lagging:
                    listener.drain()
                    listener.lagging = False
                    async for event in hub.replay(subject_filter, after_seq=stream.last_seq):
                        if not await stream.send(event) or event.is_final:
                            return await stream.finish()
                timeout_s = heartbeat_s
                if grace_until is not None:
                    timeout_s = max(0.0, min(timeout_s, grace_until - time.monotonic()))
                event = await stream.next_live(listener, timeout_s=timeout_s)
                if event is None:
                    if grace_until is not None and time.monotonic() >= grace_until:
                        break  # final in the record, its event is gone (retention): end anyway
                    await stream.heartbeat()
                    continue
                if not await stream.send(event) or event.is_final:
                    break
        except PrsmError as exc:  # too late for an error answer: end the stream,
            # the client reconnects with Last-Event-ID and resumes
            log.warning("sse_stream_ended", error=exc.message)
        return await stream.finish()


class OwnerCache:
    """task id -> (user, tenant), loaded once per task (owners never change)."""

    def __init__(self, load: OwnerLoader, *, size: int = OWNER_CACHE_SIZE) -> None:
        self._load = load
        self._size = size
        self._owners: OrderedDict[str, Owner | None] = OrderedDict()

    async def owner(self, task_id: str) -> Owner | None:
        if task_id in self._owners:
            self._owners.move_to_end(task_id)
            return self._owners[task_id]
        owner = await self._load(task_id)
        self._owners[task_id] = owner
        if len(self._owners) > self._size:
            self._owners.popitem(last=False)
        return owner

    def forget(self, task_id: str) -> None:
        self._owners.pop(task_id, None)


async def stream_visible_events(
    request: web.Request,
    hub: EventHub,
    *,
    queue_name: str | None,
    may_see: Callable[[Owner], bool],
    owners: OwnerCache,
    heartbeat_s: float = HEARTBEAT_S,
) -> web.StreamResponse:
    """``/events``: every event of tasks the caller may see, live (replayed after an id)."""
    if queue_name is not None:
        wire.check_queue_name(queue_name)
    after = last_event_id(request)
    subject_filter = queue_filter(queue_name)

    async def visible(event: TaskEvent) -> bool:
        owner = await owners.owner(event.task_id)
        return owner is not None and may_see(owner)

    with hub.listen(task_id=None, queue_name=queue_name) as listener:
        stream = SseStream(request, heartbeat_s=heartbeat_s)
        stream.last_seq = after
        await stream.prepare()
        try:
            catch_up = after > 0
            while stream.open:
                if catch_up or listener.lagging:
                    listener.drain()
                    listener.lagging = catch_up = False
                    async for event in hub.replay(subject_filter, after_seq=stream.last_seq):
                        if await visible(event) and not await stream.send(event):
                            break
                event = await stream.next_live(listener, timeout_s=heartbeat_s)
                if event is None:
                    await stream.heartbeat()
                elif await visible(event):
                    await stream.send(event)
        except PrsmError as exc:  # too late for an error answer: end the stream,
            # the client reconnects with Last-Event-ID and resumes
            log.warning("sse_stream_ended", error=exc.message)
        return await stream.finish()
