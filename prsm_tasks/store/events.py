"""Publishing task events to PRSM_EVENTS without a round trip per event (see EventPublisher)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from prsm_tasks import wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.errors import ValidationError
from prsm_tasks.models import RECORD_VERSION, TaskRecord

log = structlog.get_logger("prsm.events")


def event_dict(
    *,
    task_id: str,
    queue_name: str,
    event_type: str,
    attempt: int,
    worker_node: str | None,
    now: float,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The versioned event payload (msgpack on NATS; JSON with ISO times at the edge)."""
    return {
        "v": RECORD_VERSION,
        "event_type": event_type,
        "task_id": task_id,
        "queue_name": queue_name,
        "timestamp": now,
        "attempt": attempt,
        "worker_node": worker_node,
        "data": data or {},
    }


def event_payload(
    record: TaskRecord,
    event_type: str,
    *,
    now: float,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return event_dict(
        task_id=record.task_id,
        queue_name=record.queue_name,
        event_type=event_type,
        attempt=len(record.attempts),
        worker_node=record.worker_node,
        now=now,
        data=data,
    )


# A result bigger than this travels in the task record only; the event carries a reference.
EVENT_RESULT_MAX_BYTES = 64 * 1024


def completed_data(
    task_id: str,
    result: Any,
    *,
    size_bytes: int | None = None,
    max_inline_bytes: int = EVENT_RESULT_MAX_BYTES,
) -> dict[str, Any]:
    """``task_completed`` data: the result itself, or where to fetch it when it is large.

    ``size_bytes``: the result's encoded size when the caller already knows it.
    """
    if size_bytes is None:
        size_bytes = len(wire.pack(result))
    if size_bytes <= max_inline_bytes:
        return {"result": result}
    return {
        "result": None,
        "result_ref": {"task_id": task_id, "where": "task_record", "size_bytes": size_bytes},
    }


def event_subject_of(payload: dict[str, Any]) -> str:
    return wire.event_subject(payload["queue_name"], payload["task_id"], payload["event_type"])


# what a publish raises for the event itself (not for the connection): sending it again
# can only fail again, so it is dropped instead of holding up the events behind it
EVENT_FAULTS = (nats.errors.MaxPayloadError, nats.errors.BadSubjectError, TypeError, ValueError)


class EventPublisher:
    """Publishes events in batches with one acknowledgement per batch.

    ``publish()`` only queues the event; the publisher's own loop sends what queued up as
    plain publishes, and asks for a JetStream ack on the last one of each batch. The server
    stores one connection's messages to a stream in order, so that ack confirms the whole
    batch. A batch whose ack fails or does not come within ``ack_timeout_s`` (a reconnect)
    is sent again, checked on a timer, busy or idle: events are at least once. An event that
    cannot be encoded or sent (a name that is no subject token, too big) is dropped with a
    log line and counted in ``dropped``; it never holds up the others. ``flush()`` waits
    until everything queued so far is confirmed.
    """

    def __init__(
        self,
        nc: NatsClient,
        *,
        max_batch: int = 256,
        ack_timeout_s: float = 5.0,
        subject_of: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        self._nc = nc
        # one publisher per stream (an ack confirms a batch of one stream): events by default
        self._subject_of = subject_of or event_subject_of
        self._max_batch = max_batch
        self._ack_timeout_s = ack_timeout_s
        self._check_every_s = min(1.0, ack_timeout_s / 2)
        self._next_check = 0.0
        self._inbox = ""
        self._sub: Subscription | None = None
        self._queue: list[tuple[str, bytes]] = []
        # token -> (sent at, batch); insertion order is send order, oldest first
        self._unconfirmed: dict[str, tuple[float, list[tuple[str, bytes]]]] = {}
        self._next_token = 0
        self._wake = asyncio.Event()
        self._confirmed_all = asyncio.Event()
        self._confirmed_all.set()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # events that could not be encoded or sent
        self.resent = 0  # events sent again because their batch's ack did not come

    @property
    def outstanding(self) -> int:
        return len(self._queue) + sum(len(batch) for _, batch in self._unconfirmed.values())

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox() + "."
        with nats_errors_as_prsm("subscribing to event acks"):
            self._sub = await self._nc.subscribe(self._inbox + "*", cb=self._on_ack)
        self._task = asyncio.create_task(self._run(), name="event-publisher")

    async def stop(self, *, flush_timeout_s: float = 5.0) -> None:
        await self.flush(timeout_s=flush_timeout_s)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def publish(self, payload: dict[str, Any]) -> None:
        """Queue one event (returns at once; the loop sends it within this loop iteration)."""
        entry = self._encode(payload)
        if entry is None:
            return
        self._queue.append(entry)
        self._confirmed_all.clear()
        self._wake.set()

    async def publish_now(self, payload: dict[str, Any]) -> None:
        """Send one event at once, ahead of what the loop has queued (for ordering: an event
        that must reach the stream before a message the caller sends next)."""
        entry = self._encode(payload)
        if entry is None:
            return
        self._confirmed_all.clear()
        try:
            await self._send_isolating([entry])
        except Exception as exc:  # NATS away: the loop sends it again later
            log.warning("event_send_failed", error=repr(exc))
            self._requeue([entry])

    async def flush(self, *, timeout_s: float = 5.0) -> bool:
        """Wait until every event queued so far is confirmed by the stream."""
        if self._task is None:
            return not self._queue
        try:
            async with asyncio.timeout(timeout_s):
                await self._confirmed_all.wait()
        except TimeoutError:
            log.warning("events_unconfirmed", count=self.outstanding)
            return False
        return True

    def _encode(self, payload: dict[str, Any]) -> tuple[str, bytes] | None:
        """(subject, bytes) of an event, or None, logged and counted, when it cannot be sent."""
        try:
            subject = self._subject_of(payload)
            data = wire.pack(payload)
        except (KeyError, TypeError, ValueError, OverflowError, ValidationError) as exc:
            self._drop(payload.get("task_id"), exc)
            return None
        if len(data) > self._nc.max_payload:
            self._drop(payload.get("task_id"), f"{len(data)} bytes, over max_payload")
            return None
        return subject, data

    def _drop(self, task_id: object, error: object) -> None:
        self.dropped += 1
        log.error("event_dropped", task_id=repr(task_id)[:100], error=repr(error)[:300])

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._check_every_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            # on a timer, not only when idle: under steady load a lost ack is resent too
            if time.monotonic() >= self._next_check:
                self._next_check = time.monotonic() + self._check_every_s
                self._resend_expired()
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                try:
                    await self._send_isolating(batch)
                except Exception as exc:  # NATS away: keep the batch, try again shortly
                    log.warning("event_batch_send_failed", error=repr(exc), events=len(batch))
                    self._queue[:0] = batch
                    await asyncio.sleep(0.5)
                    break
            self._check_confirmed()

    async def _send_isolating(self, batch: list[tuple[str, bytes]]) -> None:
        """Send a batch; one that fails for an event's own sake goes again one event at a
        time, so only the faulty event is dropped. Connection errors propagate."""
        try:
            await self._send(batch)
        except EVENT_FAULTS as exc:
            if len(batch) == 1:
                self._drop(batch[0][0], exc)
                return
            for entry in batch:
                await self._send_isolating([entry])

    async def _send(self, batch: list[tuple[str, bytes]]) -> None:
        """Publish a batch, its ack asked on the last event. A send that raises leaves no
        bookkeeping behind: the caller alone decides whether it goes again."""
        self._next_token += 1
        token = str(self._next_token)
        self._unconfirmed[token] = (time.monotonic(), batch)
        publish = self._nc.publish
        try:
            for subject, data in batch[:-1]:
                await publish(subject, data)
            subject, data = batch[-1]
            await publish(subject, data, reply=self._inbox + token)
        except BaseException:
            self._unconfirmed.pop(token, None)
            raise

    async def _on_ack(self, msg: Msg) -> None:
        entry = self._unconfirmed.pop(msg.subject[len(self._inbox) :], None)
        if entry is None:
            return
        if not msg.data or b'"error"' in msg.data:
            log.warning("event_batch_not_stored", reply=msg.data[:200], events=len(entry[1]))
            self._requeue(entry[1])
        self._check_confirmed()

    def _resend_expired(self) -> None:
        deadline = time.monotonic() - self._ack_timeout_s
        for token, (sent_at, batch) in list(self._unconfirmed.items()):
            if sent_at >= deadline:
                break  # the rest were sent later still
            del self._unconfirmed[token]
            self.resent += len(batch)
            log.warning("event_batch_resent", events=len(batch))
            self._requeue(batch)

    def _requeue(self, batch: list[tuple[str, bytes]]) -> None:
        self._queue[:0] = batch
        self._wake.set()

    def _check_confirmed(self) -> None:
        if not self._queue and not self._unconfirmed:
            self._confirmed_all.set()
