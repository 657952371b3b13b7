"""One live subscription to PRSM_EVENTS per edge process, fanned out to its SSE connections.

Hundreds of SSE clients must not mean hundreds of JetStream consumers: the hub holds ONE
ordered consumer on ``prsm.events.>`` (new events only, memory storage) and hands each event
to the listeners of its task id, and to the listeners of "everything" (``/events``). It
subscribes when its first listener comes, not before: every task sends two or three events,
and an edge no SSE client asks would spend CPU on each of them for nobody.

Past events do not come from the hub: a connection replays them from the stream itself with
batched direct gets (``next_by_subj``, a page of events per request), which any edge can do,
so ``Last-Event-ID`` works wherever the client reconnects. A replay reads the next page only
when the connection has sent the last one, so it goes at the client's pace and stops with it.
The stream sequence is the event id; a connection registers its listener *before* replaying
and later drops live events it already replayed, so nothing falls between the two.

A listener that falls behind (a slow client) is not buffered without limit: once its queue
is full it is marked ``lagging`` and the connection catches up from the stream instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import nats.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from prsm_tasks import telemetry, wire
from prsm_tasks.bus import NATS_DOWN_ERRORS, nats_errors_as_prsm
from prsm_tasks.errors import ServiceUnavailableError
from prsm_tasks.messages import TaskEvent

log = structlog.get_logger("prsm.edge.events")

LISTENER_QUEUE_EVENTS = 2_000
DIRECT_GET_TIMEOUT_S = 5.0
DIRECT_GET_SUBJECT = f"$JS.API.DIRECT.GET.{wire.EVENTS_STREAM}"
REPLAY_MAX_EVENTS = 100_000
REPLAY_PAGE_EVENTS = 256  # stored events per batched read
REPLAY_PAGE_BYTES = 1_048_576  # ... and at most about this many bytes of them


@dataclass(eq=False)
class Listener:
    """One SSE connection's share of the live events."""

    task_id: str | None  # None: every event (filtered by the connection)
    queue_name: str | None = None
    events: asyncio.Queue[TaskEvent] = field(
        default_factory=lambda: asyncio.Queue(LISTENER_QUEUE_EVENTS)
    )
    lagging: bool = False
    closed: bool = False  # the edge is shutting down: end the stream

    def offer(self, event: TaskEvent) -> None:
        if self.lagging or self.closed:
            return
        try:
            self.events.put_nowait(event)
        except asyncio.QueueFull:
            self.lagging = True  # the connection replays from the stream to catch up

    def drain(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    def close(self) -> None:
        self.closed = True
        self.drain()
        self.events.put_nowait(CLOSED)


def decode_stream_event(data: bytes, seq: int) -> TaskEvent:
    event = TaskEvent.model_validate(wire.unpack(data))
    event.seq = seq
    return event


def task_filter(task_id: str, queue_name: str | None = None) -> str:
    return f"{wire.EVENTS_PREFIX}.{queue_name or '*'}.{task_id}.*"


def queue_filter(queue_name: str | None) -> str:
    return f"{wire.EVENTS_PREFIX}.{queue_name}.>" if queue_name else f"{wire.EVENTS_PREFIX}.>"


def direct_get_request(subject_filter: str, seq: int, batch: int) -> bytes:
    """A batched direct get: the next ``batch`` events on the filter from ``seq`` on."""
    return json.dumps(
        {"seq": seq, "next_by_subj": subject_filter, "batch": batch, "max_bytes": REPLAY_PAGE_BYTES}
    ).encode()


@dataclass
class ReplayCursor:
    """Where a replay stands: what it read, and how much more the server says is stored."""

    last_seq: int = 0  # the stream sequence of the last event read
    read: int = 0  # stored events read
    pending: int | None = None  # events on the filter stored after last_seq; None: unknown

    def took(self, msg: Msg) -> TaskEvent | None:
        headers = msg.headers or {}
        self.last_seq = int(headers["Nats-Sequence"])
        self.read += 1
        pending = headers.get("Nats-Num-Pending")
        self.pending = int(pending) if pending is not None else None
        try:
            return decode_stream_event(msg.data, self.last_seq)
        except (ValueError, TypeError) as exc:
            log.warning("event_unreadable", seq=self.last_seq, error=repr(exc))
            return None


async def page_replies(sub: Subscription, cursor: ReplayCursor) -> AsyncIterator[Msg]:
    """The stored events one batched direct get answered, up to its end-of-batch mark.

    Nothing stored after the sequence asked for (404) sets ``cursor.pending`` to 0. A data
    answer without ``Nats-Num-Pending`` comes from a server that reads one event per
    request (before batched gets, nats-server 2.11): it is the whole page.
    """
    while True:
        with nats_errors_as_prsm("reading task events"):
            msg = await sub.next_msg(timeout=DIRECT_GET_TIMEOUT_S)
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            yield msg
            if "Nats-Num-Pending" not in headers:
                return
            continue
        if status == "404":
            cursor.pending = 0
            return
        if status == "204":  # end of the batch
            pending = headers.get("Nats-Num-Pending")
            if pending is not None:
                cursor.pending = int(pending)
            return
        raise ServiceUnavailableError(
            f"reading events failed: {status} {headers.get('Description', '')}"
        )


# put into a closed listener's queue to wake its connection (never sent to a client)
CLOSED = TaskEvent(event_type="task_cancelled", task_id="", queue_name="", timestamp=0.0)


class EventHub:
    def __init__(self, nc: NatsClient, js: JetStreamContext) -> None:
        self._nc = nc
        self._js = js
        self._sub: object | None = None
        self._starting = asyncio.Lock()
        self._stopped = False
        self._by_task: dict[str, set[Listener]] = {}
        self._everything: set[Listener] = set()
        self.delivered = 0
        self.replayed = 0  # stored events read back by replays (each read once)

    @property
    def listeners(self) -> int:
        return sum(len(group) for group in self._by_task.values()) + len(self._everything)

    async def start(self) -> None:
        with nats_errors_as_prsm("following task events"):
            self._sub = await self._js.subscribe(
                f"{wire.EVENTS_PREFIX}.>",
                stream=wire.EVENTS_STREAM,
                cb=self._on_event,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.NEW,
                config=ConsumerConfig(mem_storage=True),
                pending_msgs_limit=1_000_000,
            )

    def close_listeners(self) -> None:
        """Shutdown: every open stream ends now instead of at its next heartbeat."""
        for group in (*self._by_task.values(), self._everything):
            for listener in group:
                listener.close()

    async def follow(self) -> None:
        """Subscribe, once (the first listener's ``listen`` does it)."""
        if self._sub is not None:
            return
        async with self._starting:
            if self._sub is None and not self._stopped:
                await self.start()

    async def stop(self) -> None:
        self._stopped = True
        self.close_listeners()
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(nats.errors.Error, *NATS_DOWN_ERRORS):
                await sub.unsubscribe()  # type: ignore[attr-defined]

    async def _on_event(self, msg: Msg) -> None:
        # prsm.events.<queue>.<task_id>.<event_type>: route before decoding
        parts = msg.subject.split(".")
        task_id = parts[3] if len(parts) == 5 else ""
        targets = self._by_task.get(task_id)
        if not targets and not self._everything:
            return
        try:
            event = decode_stream_event(msg.data, msg.metadata.sequence.stream)
        except (ValueError, TypeError) as exc:
            log.warning("event_unreadable", subject=msg.subject, error=repr(exc))
            return
        for listener in targets or ():
            listener.offer(event)
        for listener in self._everything:
            if listener.queue_name is None or listener.queue_name == event.queue_name:
                listener.offer(event)
        self.delivered += 1

    @contextlib.asynccontextmanager
    async def listen(
        self, *, task_id: str | None, queue_name: str | None = None
    ) -> AsyncIterator[Listener]:
        """A listener, registered and followed: every event stored from now on reaches it
        (the subscription exists before this returns, so a replay the caller reads next
        leaves no gap)."""
        listener = Listener(task_id=task_id, queue_name=queue_name)
        if task_id is None:
            self._everything.add(listener)
        else:
            self._by_task.setdefault(task_id, set()).add(listener)
        telemetry.stream_opened()
        try:
            await self.follow()
            yield listener
        finally:
            telemetry.stream_closed()
            if task_id is None:
                self._everything.discard(listener)
            else:
                group = self._by_task.get(task_id)
                if group is not None:
                    group.discard(listener)
                    if not group:
                        del self._by_task[task_id]

    # --- replay from the stream (any edge can do it) ------------------------------------------

    async def replay(
        self,
        subject_filter: str,
        *,
        after_seq: int,
        limit: int = REPLAY_MAX_EVENTS,
        cursor: ReplayCursor | None = None,
    ) -> AsyncIterator[TaskEvent]:
        """Stored events on ``subject_filter`` with a sequence above ``after_seq``, in order.

        Read a page at a time (a batched direct get: one request, up to
        ``REPLAY_PAGE_EVENTS`` answers), and the next page is asked for only when the caller
        has taken this one: the first events arrive after one round trip, memory holds one
        page, and a caller that stops iterating (close it: ``contextlib.aclosing``) stops
        the reading. ``cursor``, if given, follows what was read.
        """
        cursor = cursor or ReplayCursor()
        cursor.last_seq = after_seq
        inbox = self._nc.new_inbox()
        with nats_errors_as_prsm("reading task events"):
            sub = await self._nc.subscribe(inbox, pending_msgs_limit=2 * REPLAY_PAGE_EVENTS)
        try:
            while cursor.read < limit:
                page = min(REPLAY_PAGE_EVENTS, limit - cursor.read)
                with nats_errors_as_prsm("reading task events"):
                    await self._nc.publish(
                        DIRECT_GET_SUBJECT,
                        direct_get_request(subject_filter, cursor.last_seq + 1, page),
                        reply=inbox,
                    )
                read_before = cursor.read
                async for msg in page_replies(sub, cursor):
                    self.replayed += 1
                    event = cursor.took(msg)
                    if event is not None:
                        yield event
                if cursor.pending == 0 or cursor.read == read_before:
                    return  # nothing more stored
        finally:
            with contextlib.suppress(nats.errors.Error, *NATS_DOWN_ERRORS):
                await sub.unsubscribe()

    async def last_seq(self) -> int:
        """The sequence of the newest event stored (0: none)."""
        with nats_errors_as_prsm("reading the events stream"):
            info = await self._js.stream_info(wire.EVENTS_STREAM)
        return info.state.last_seq

    async def purge_task(self, task_id: str, queue_name: str) -> None:
        """Remove a task's events from the stream (DELETE of a finished task)."""
        with nats_errors_as_prsm("removing task events"):
            await self._js.purge_stream(
                wire.EVENTS_STREAM, subject=f"{wire.EVENTS_PREFIX}.{queue_name}.{task_id}.>"
            )
