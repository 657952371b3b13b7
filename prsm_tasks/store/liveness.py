"""The watchdog of one NATS connection: a connection that says "connected" but answers
nothing is dropped and reconnected within ``stall_s``, not minutes later.

nats-py notices a dead connection by its keep-alive pings (two unanswered pings two minutes
apart by default), and until then every request times out on a connection that claims to
be fine. The watchdog looks every ``stall_s / 5``: anything received since its last look
(a message, a heartbeat, a PONG) means alive; a silent connection gets a PING; a PING left
unanswered for ``stall_s`` (and nothing else received meanwhile), or a reader task that
stopped, forces a reconnect. The edge's ``/health`` answers from the same state, so a probe
never makes a round trip of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from prsm_tasks.bus import GuardedClient

log = structlog.get_logger("prsm.store.liveness")

DEFAULT_STALL_S = 5.0


class ConnectionWatchdog:
    def __init__(self, nc: GuardedClient, *, name: str, stall_s: float = DEFAULT_STALL_S) -> None:
        self._nc = nc
        self._name = name
        self.stall_s = stall_s
        self._tick_s = max(0.05, stall_s / 5)
        self._received = nc.received
        self._ping: asyncio.Future[bool] | None = None
        self._ping_sent_at = 0.0
        self._overdue_seen = False
        self.last_alive_at = time.monotonic()  # when the server was last heard from
        self.forced_reconnects = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> ConnectionWatchdog:
        self._task = asyncio.create_task(self._run(), name=f"watchdog-{self._name}")
        return self

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def connected(self) -> bool:
        return self._nc.is_connected

    @property
    def silent_s(self) -> float:
        """Seconds since the server was last heard from."""
        return time.monotonic() - self.last_alive_at

    @property
    def unanswered_s(self) -> float:
        """Seconds the watchdog's PING has waited for its PONG (0: none waiting)."""
        if self._ping is None or self._ping.done():
            return 0.0
        return time.monotonic() - self._ping_sent_at

    @property
    def answering(self) -> bool:
        """Connected, and no ping has waited for half the stall limit: worth sending a
        request on (the callers answer 503 at once otherwise, instead of timing out)."""
        return self._nc.is_connected and self.unanswered_s < self.stall_s / 2

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                await self.check()
            except Exception as exc:  # the watchdog itself must outlive any surprise
                log.warning("watchdog_check_failed", connection=self._name, error=repr(exc))

    async def check(self) -> None:
        nc = self._nc
        now = time.monotonic()
        received = nc.received
        if received != self._received or not nc.is_connected:
            # heard from (or, while not connected, the library's own reconnect is at work
            # and a new connection's first PONG will count as heard from)
            self._received = received
            if nc.is_connected:
                self.last_alive_at = now
            self._ping, self._overdue_seen = None, False
            return
        if not nc.reader_alive:
            await self._reconnect("reader_stopped")
        elif self._ping is None or self._ping.done():
            self._ping, self._ping_sent_at = await nc.send_ping(), now
        elif now - self._ping_sent_at >= self.stall_s:
            # seen overdue twice: a loop that was blocked gets one more look at the socket
            if self._overdue_seen:
                await self._reconnect("no_answer")
            self._overdue_seen = True

    async def _reconnect(self, reason: str) -> None:
        log.warning(
            "nats_stalled_reconnecting",
            connection=self._name,
            reason=reason,
            silent_s=round(self.silent_s, 1),
        )
        self.forced_reconnects += 1
        self._ping, self._overdue_seen = None, False
        await self._nc.force_reconnect()
