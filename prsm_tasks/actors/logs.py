"""The log pump: the node's actor that publishes what handlers log, off their path.

A handler's ``ctx.logger`` appends to its attempt's ``LogCapture`` (prsm_tasks/task_logs.py)
and wakes this pump once per batch. The pump waits ``FLUSH_INTERVAL_S`` so lines coalesce,
then sends each attempt's pending lines as one message to PRSM_LOGS (kept, read by
``GET /tasks/{id}/logs``) and one ``task_log`` event to PRSM_EVENTS (live: SSE, watch).

Rules, the same as progress: nothing goes out before the attempt's claim is stored (a run
that a cancel or another owner voids leaves no lines); the attempt's outcome event is its
last word, so the announcer closes the capture right before it (``close``), publishing what
is pending with the dropped-lines line; lines after that (a sync thread still running after
its timeout) are dropped. A cancelled attempt's last lines are kept in PRSM_LOGS but sent as
no event: the canceller's ``task_cancelled`` was the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import structlog

from prsm_tasks.actors.attempt import Attempt, Stop
from prsm_tasks.errors import PrsmError
from prsm_tasks.store.events import EventPublisher, event_dict
from prsm_tasks.store.logs import chunk_payload
from prsm_tasks.task_logs import LogCapture, LogLine, iso_utc

log = structlog.get_logger("prsm.node.logs")

FLUSH_INTERVAL_S = 0.2


class LogPump:
    def __init__(
        self,
        *,
        events: EventPublisher,
        logs: EventPublisher,
        node_id: str,
        max_lines: int,
        max_line_bytes: int,
    ) -> None:
        self._events = events
        self._logs = logs
        self._node_id = node_id
        self.max_lines = max_lines
        self.max_line_bytes = max_line_bytes
        self._attempts: dict[LogCapture, Attempt] = {}
        self._dirty: set[LogCapture] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    def open(self, attempt: Attempt, number: int) -> LogCapture:
        """The capture of ``attempt`` (made on the handler's first ``ctx.logger``)."""
        capture = LogCapture(
            attempt=number,
            max_lines=self.max_lines,
            max_line_bytes=self.max_line_bytes,
            wake=self._note,
        )
        self._attempts[capture] = attempt
        attempt.logs = capture
        return capture

    def _note(self, capture: LogCapture) -> None:
        """From the loop or a handler's thread: the capture has lines to send."""
        if threading.get_ident() == self._loop_thread or self._loop is None:
            self._dirty.add(capture)
            self._wake.set()
        else:
            # a sync handler left running past its node's stop: its lines have nowhere to go
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._note_on_loop, capture)

    def _note_on_loop(self, capture: LogCapture) -> None:
        self._dirty.add(capture)
        self._wake.set()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        while True:
            await self._wake.wait()
            await asyncio.sleep(FLUSH_INTERVAL_S)  # let a burst coalesce into one batch
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for capture in dirty:
                attempt = self._attempts.get(capture)
                if attempt is None:
                    continue
                if not attempt.owns_record:
                    self._dirty.add(capture)  # held until the claim is stored
                    continue
                await self._send(attempt, capture, capture.take())
            if self._dirty:
                self._wake.set()

    async def close(self, attempt: Attempt) -> None:
        """Right before the attempt's outcome event: its last lines go out first."""
        capture = attempt.logs
        if capture is None or capture.closed:
            return
        capture.owned = True
        await self._send(attempt, capture, capture.take(closing=True))
        capture.events_closed = True

    async def settle(self, attempt: Attempt) -> None:
        """The runner lets go of the attempt: what is left goes out if the attempt ever
        owned its record; then the capture is forgotten."""
        capture = attempt.logs
        if capture is None:
            return
        attempt.logs = None
        self._attempts.pop(capture, None)
        self._dirty.discard(capture)
        lines = capture.take(closing=True)
        if attempt.owns_record or capture.owned:
            await self._send(attempt, capture, lines)

    async def _send(self, attempt: Attempt, capture: LogCapture, lines: list[LogLine]) -> None:
        capture.owned = True
        if not lines:
            return
        fields = attempt.fields
        assert fields is not None
        queue = fields["queue_name"]
        try:
            await self._logs.publish(
                chunk_payload(
                    task_id=attempt.task_id, queue_name=queue, attempt=capture.attempt, lines=lines
                )
            )
            if capture.events_closed or attempt.stop is Stop.CANCEL:
                return
            await self._events.publish(
                event_dict(
                    task_id=attempt.task_id,
                    queue_name=queue,
                    event_type="task_log",
                    attempt=capture.attempt,
                    worker_node=self._node_id,
                    now=time.time(),
                    data={"lines": [public_line(line) for line in lines]},
                )
            )
        except PrsmError as exc:
            log.warning("log_publish_failed", task_id=attempt.task_id, error=exc.message)


def public_line(line: LogLine) -> dict[str, object]:
    stamp, level, message = line
    return {"timestamp": iso_utc(stamp), "level": level, "message": message}
