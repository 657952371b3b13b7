"""Server-Sent Events of task events: one task (``/tasks/{id}/events``) or all one may see.

Each message is ``event: task_event`` (``task_log`` for a handler's log lines), ``id:
<PRSM_EVENTS stream sequence>``, ``data: <the event JSON>``. A task stream replays the
task's stored events after ``Last-Event-ID`` (all of them without one), follows live
through the edge's shared ``EventHub``, and ends after the final event. A reconnect whose
``Last-Event-ID`` already is the final event gets ``204 No Content``, which stops a
browser's EventSource from reconnecting. Idle streams carry a ``: keep-alive`` comment
every ``heartbeat_s`` so proxies keep them open.

Replays are sent as they are read, a page at a time, and stop as soon as a write fails or
the client's connection is closing. One connection replays at most ``replay_max_events``:

- a task stream that reaches it sends ``event: replay_truncated`` (its ``id`` the last event
  sent, its data where to resume and how much is left) and ends; EventSource reconnects with
  that ``Last-Event-ID`` and gets the next part;
- ``/events`` scans only the newest ``replay_max_events`` stored events (every tenant's
  events are in one stream, so this bounds what a caller can make the edge read); an older
  ``Last-Event-ID`` gets ``replay_truncated`` saying which events were skipped, then the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import structlog
from aiohttp import web

from prsm_tasks import wire
from prsm_tasks.edge.http.state import STATE
from prsm_tasks.errors import PrsmError, ValidationError
from prsm_tasks.messages import TaskEvent
from prsm_tasks.services.event_hub import (
    EventHub,
    Listener,
    ReplayCursor,
    queue_filter,
    task_filter,
)

log = structlog.get_logger("prsm.edge.sse")

HEARTBEAT_S = 15.0
FINAL_EVENT_GRACE_S = 5.0  # a final record whose event is not stored yet: wait this long
RETRY_MS = 2000
OWNER_CACHE_SIZE = 50_000
REPLAY_MAX_EVENTS_DEFAULT = 10_000  # PRSM_SSE_REPLAY_MAX_EVENTS
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
    name = b"task_log" if event.event_type == "task_log" else b"task_event"
    return b"event: %s\nid: %d\ndata: %s\n\n" % (name, event.seq or 0, data)


def truncated_message(seq: int, data: dict[str, object]) -> bytes:
    """``replay_truncated``: its ``id`` is where a reconnect resumes (``Last-Event-ID``)."""
    return b"event: replay_truncated\nid: %d\ndata: %s\n\n" % (seq, orjson.dumps(data))


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

    def still_open(self) -> bool:
        """False once the client went away (checked before each write, and while a replay
        skips what the caller may not see): nothing more is read for it."""
        transport = self.request.transport
        if transport is None or transport.is_closing():
            self.open = False
        return self.open

    async def _write(self, data: bytes) -> bool:
        if not self.still_open():
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

    async def send_truncated(self, seq: int, data: dict[str, object]) -> bool:
        self.last_seq = max(self.last_seq, seq)
        return await self._write(truncated_message(seq, data))

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
    async with contextlib.aclosing(
        hub.replay(task_filter(task_id), after_seq=seq - 1, limit=1)
    ) as events:
        async for event in events:
            return event.seq == seq and event.is_final
    return False


class Replayed(enum.Enum):
    CAUGHT_UP = "caught_up"  # nothing more stored: follow live
    ENDED = "ended"  # the final event is sent, or the client went away
    TRUNCATED = "truncated"  # the connection's replay bound is reached: end, resume later


class TaskReplay:
    """One task stream's replays (the history, and catching up after lagging), which
    together send at most ``max_events`` stored events on one connection."""

    def __init__(self, hub: EventHub, subject_filter: str, *, max_events: int) -> None:
        self.hub = hub
        self.subject_filter = subject_filter
        self.max_events = max_events
        self.sent = 0

    def read_after(self, seq: int, cursor: ReplayCursor) -> AsyncIterator[TaskEvent]:
        # one more than may be sent: that it exists is what tells "truncated"
        left = self.max_events - self.sent + 1
        return self.hub.replay(self.subject_filter, after_seq=seq, limit=left, cursor=cursor)

    async def send(
        self, stream: SseStream, events: AsyncIterator[TaskEvent], cursor: ReplayCursor
    ) -> Replayed:
        async for event in events:
            if self.sent >= self.max_events:
                remaining = None if cursor.pending is None else cursor.pending + 1
                notice = {
                    "reason": "replay_limit",
                    "max_replay_events": self.max_events,
                    "resume_after": stream.last_seq,
                    "remaining": remaining,
                }
                await stream.send_truncated(stream.last_seq, notice)
                return Replayed.TRUNCATED
            self.sent += 1
            if not await stream.send(event) or event.is_final:
                return Replayed.ENDED
        return Replayed.CAUGHT_UP

    async def catch_up(self, stream: SseStream) -> Replayed:
        cursor = ReplayCursor()
        async with contextlib.aclosing(self.read_after(stream.last_seq, cursor)) as events:
            return await self.send(stream, events, cursor)


async def stream_task_events(
    request: web.Request,
    hub: EventHub,
    *,
    task_id: str,
    queue_name: str,
    record_is_final: bool,
    heartbeat_s: float = HEARTBEAT_S,
    replay_max_events: int = REPLAY_MAX_EVENTS_DEFAULT,
) -> web.StreamResponse:
    """The SSE answer for one task whose record the caller may see."""
    after = last_event_id(request)
    replay = TaskReplay(hub, task_filter(task_id, queue_name), max_events=replay_max_events)
    async with hub.listen(task_id=task_id) as listener:
        # registered before replaying: whatever is stored from now on also arrives live
        cursor = ReplayCursor()
        async with contextlib.aclosing(replay.read_after(after, cursor)) as history:
            first = await anext(history, None)
            if first is None and after > 0 and await is_final_event_at(hub, task_id, after):
                return web.Response(status=204)
            stream = SseStream(request, heartbeat_s=heartbeat_s)
            stream.last_seq = after
            await stream.prepare()
            try:
                replayed = Replayed.CAUGHT_UP
                if first is not None:
                    replayed = await replay.send(stream, prepend(first, history), cursor)
            except PrsmError as exc:
                log.warning("sse_stream_ended", error=exc.message)
                return await stream.finish()
        if replayed is Replayed.CAUGHT_UP:
            await follow_task(stream, listener, replay, record_is_final=record_is_final)
        return await stream.finish()


async def prepend(first: TaskEvent, rest: AsyncIterator[TaskEvent]) -> AsyncIterator[TaskEvent]:
    yield first
    async for event in rest:
        yield event


async def follow_task(
    stream: SseStream, listener: Listener, replay: TaskReplay, *, record_is_final: bool
) -> None:
    """Live events until the final one (or the client goes, or the edge shuts down)."""
    grace_until = time.monotonic() + FINAL_EVENT_GRACE_S if record_is_final else None
    try:
        while stream.open:
            if listener.lagging:
                listener.drain()
                listener.lagging = False
                if await replay.catch_up(stream) is not Replayed.CAUGHT_UP:
                    return
            timeout_s = stream.heartbeat_s
            if grace_until is not None:
                timeout_s = max(0.0, min(timeout_s, grace_until - time.monotonic()))
            event = await stream.next_live(listener, timeout_s=timeout_s)
            if event is None:
                if grace_until is not None and time.monotonic() >= grace_until:
                    return  # final in the record, its event is gone (retention): end anyway
                await stream.heartbeat()
                continue
            if not await stream.send(event) or event.is_final:
                return
    except PrsmError as exc:  # too late for an error answer: end the stream,
        # the client reconnects with Last-Event-ID and resumes
        log.warning("sse_stream_ended", error=exc.message)


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
    replay_max_events: int = REPLAY_MAX_EVENTS_DEFAULT,
) -> web.StreamResponse:
    """``/events``: every event of tasks the caller may see, live (replayed after an id)."""
    if queue_name is not None:
        wire.check_queue_name(queue_name)
    after = last_event_id(request)
    subject_filter = queue_filter(queue_name)

    async def visible(event: TaskEvent) -> bool:
        owner = await owners.owner(event.task_id)
        return owner is not None and may_see(owner)

    async with hub.listen(task_id=None, queue_name=queue_name) as listener:
        stream = SseStream(request, heartbeat_s=heartbeat_s)
        stream.last_seq = after
        await stream.prepare()
        try:
            catch_up = after > 0
            while stream.open:
                if catch_up or listener.lagging:
                    listener.drain()
                    listener.lagging = catch_up = False
                    await replay_window(
                        stream, hub, subject_filter, visible, max_events=replay_max_events
                    )
                event = await stream.next_live(listener, timeout_s=heartbeat_s)
                if event is None:
                    await stream.heartbeat()
                elif await visible(event):
                    await stream.send(event)
        except PrsmError as exc:  # too late for an error answer: end the stream,
            # the client reconnects with Last-Event-ID and resumes
            log.warning("sse_stream_ended", error=exc.message)
        return await stream.finish()


async def replay_window(
    stream: SseStream,
    hub: EventHub,
    subject_filter: str,
    visible: Callable[[TaskEvent], Awaitable[bool]],
    *,
    max_events: int,
) -> None:
    """Send the visible events stored after ``stream.last_seq``, scanning no more than the
    newest ``max_events`` of the stream: every tenant's events share it, so an old
    ``Last-Event-ID`` must not make the edge read (and look up the owner of) all of them."""
    newest = await hub.last_seq()
    if stream.last_seq > newest:
        stream.last_seq = newest  # an id this stream never gave (it was recreated): from now
    oldest_read = newest - max_events
    if oldest_read > stream.last_seq:
        notice = {
            "reason": "replay_window",
            "max_replay_events": max_events,
            "skipped_after": stream.last_seq,
            "resume_after": oldest_read,
        }
        if not await stream.send_truncated(oldest_read, notice):
            return
    cursor = ReplayCursor()
    events = hub.replay(subject_filter, after_seq=stream.last_seq, limit=max_events, cursor=cursor)
    async with contextlib.aclosing(events):
        async for event in events:
            if not stream.still_open():
                return
            if await visible(event):
                await stream.send(event)
    # what was scanned is done, seen or not: a later catch-up (after lagging) starts there
    stream.last_seq = max(stream.last_seq, cursor.last_seq)
