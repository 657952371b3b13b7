"""Which queued tasks were cancelled lately: what lets a node start a task before its claim.

A node starts a short task's handler before writing its claim (see actors/runner.py). The
claim's compare-and-set is then no longer what keeps a cancelled task from running, so a
cancel of a *queued* task also leaves a key in PRSM_CANCELS (TTL ``cancel_memory_s``), and
every node mirrors that bucket. A node starts a task unclaimed only when it knows for sure
that the task was not cancelled before it arrived:

- its mirror holds every cancel key (it caught up after start and after each reconnect);
- the task id is not among them;
- its work message is younger than the memory, less a margin for clocks (a message stored
  before the oldest remembered cancel might have been cancelled and forgotten).

Otherwise it claims first, as always. A cancel that lands in the moment between a node
taking the message and the key reaching its mirror still stops the handler: the cancel
signal reaches the runner like any running task's.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from nats.js import JetStreamContext

from prsm_tasks import wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.store.watch import BucketWatch

log = structlog.get_logger("prsm.store.cancels")

# clocks of nodes and servers may differ by this much
CLOCK_MARGIN_S = 300.0


class CancelMemory:
    def __init__(self, js: JetStreamContext, *, memory_s: float) -> None:
        self._js = js
        self._max_age_s = memory_s - CLOCK_MARGIN_S
        self._cancelled: dict[str, float] = {}  # task id -> when we learnt it (monotonic)
        self._last_seq = 0
        self._watch = BucketWatch(js, wire.CANCELS_BUCKET, self._on_entry)
        self._live = False
        self._resync: asyncio.Task[None] | None = None
        self._entry_seen = asyncio.Event()

    @property
    def live(self) -> bool:
        return self._live

    async def start(self) -> None:
        await self._watch.start()
        self._live = True

    async def stop(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
        await self._watch.stop()

    def allows_unclaimed_start(self, task_id: str, stored_at: float) -> bool:
        """May a task whose message was stored at ``stored_at`` (epoch s) run unclaimed?"""
        return (
            self._live
            and self._max_age_s > 0
            and task_id not in self._cancelled
            and time.time() - stored_at < self._max_age_s
        )

    def disconnected(self) -> None:
        self._live = False

    def reconnected(self) -> None:
        """Live again once the mirror has what the bucket held at this moment."""
        if self._resync is None or self._resync.done():
            self._resync = asyncio.get_running_loop().create_task(self._catch_up())

    async def _catch_up(self) -> None:
        self._live = False
        delay_s = 0.05
        while True:
            try:
                with nats_errors_as_prsm("reading the cancel bucket"):
                    info = await self._js.stream_info(f"KV_{wire.CANCELS_BUCKET}")
                # keys expire oldest first: if any are left, the newest is last_seq
                target = info.state.last_seq if info.state.messages else 0
                async with asyncio.timeout(30.0):
                    while self._last_seq < target:
                        self._entry_seen.clear()
                        await self._entry_seen.wait()
                self._live = True
                return
            except Exception as exc:  # still reconnecting: claim first meanwhile
                log.debug("cancel_memory_catch_up_failed", error=repr(exc))
            await asyncio.sleep(delay_s)
            delay_s = min(2.0, delay_s * 2)

    def _on_entry(self, key: str, value: bytes | None, revision: int) -> None:
        self._last_seq = max(self._last_seq, revision)
        self._entry_seen.set()
        now = time.monotonic()
        self._cancelled[key] = now
        # forget what the bucket itself has forgotten (its keys expire, with no marker)
        horizon = now - self._max_age_s - CLOCK_MARGIN_S
        for task_id, learnt in list(self._cancelled.items()):
            if learnt >= horizon:
                break
            del self._cancelled[task_id]
