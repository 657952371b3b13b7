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
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from prsm_tasks import wire
from prsm_tasks.bus import Backoff, Requests, nats_errors_as_prsm
from prsm_tasks.errors import ServiceUnavailableError
from prsm_tasks.store.watch import BucketWatch

log = structlog.get_logger("prsm.store.cancels")

# clocks of nodes and servers may differ by this much
CLOCK_MARGIN_S = 300.0
WRITE_TIMEOUT_S = 10.0


async def signal_changed(nc: NatsClient, task_id: str) -> None:
    """After such a change: a node already running it unclaimed claims it now, and runs it
    again if its data changed (see actors/runner.py)."""
    with nats_errors_as_prsm("signalling a change"):
        await nc.publish(wire.cancel_subject(task_id), wire.CHANGED_SIGNAL)


async def forbid_unclaimed_start(requests: Requests, task_id: str) -> None:
    """Before a cancel or any other change of a task that has not started: nodes that take
    its work message from now on claim it first (the message's copy of the record is stale)."""
    reply = await requests.request(
        f"$KV.{wire.CANCELS_BUCKET}.{task_id}", b"", timeout_s=WRITE_TIMEOUT_S
    )
    if b'"error"' in reply:
        raise ServiceUnavailableError(
            f"cannot record a change of task {task_id}: {reply[:200]!r}", task_id=task_id
        )


class CancelMemory:
    def __init__(self, js: JetStreamContext, *, memory_s: float) -> None:
        self._js = js
        self._max_age_s = memory_s - CLOCK_MARGIN_S
        self._cancelled: dict[str, float] = {}  # task id -> when we learnt it (monotonic)
        self._watch = BucketWatch(js, wire.CANCELS_BUCKET, self._on_entry)
        self._live = asyncio.Event()
        self._generation = 0  # one per lost connection: a catch-up of an older one is void
        self._catch_up_task: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        return self._live.is_set()

    async def start(self, *, timeout_s: float = 120.0) -> None:
        """Replay the bucket; returns once the mirror is live (a reconnect meanwhile starts
        the replay over, and this waits for that one)."""
        self.begin()
        async with asyncio.timeout(timeout_s):
            await self._live.wait()

    def begin(self) -> None:
        """Start the replay and return at once: ``live`` once it has caught up. A node
        takes work meanwhile, claiming every task first (an hour of cancels, tens of
        thousands of keys, takes a second or so to replay)."""
        self.reconnected()

    async def stop(self) -> None:
        self._live.clear()
        if self._catch_up_task is not None:
            self._catch_up_task.cancel()
        await self._watch.stop()

    def allows_unclaimed_start(self, task_id: str, stored_at: float) -> bool:
        """May a task whose message was stored at ``stored_at`` (epoch s) run unclaimed?"""
        return (
            self._live.is_set()
            and self._max_age_s > 0
            and task_id not in self._cancelled
            and time.time() - stored_at < self._max_age_s
        )

    def note(self, task_id: str) -> None:
        """A cancel signal heard directly (it may outrun the bucket's copy to the mirror)."""
        self._remember(task_id)

    def disconnected(self) -> None:
        self._live.clear()
        self._generation += 1
        if self._catch_up_task is not None:
            self._catch_up_task.cancel()
            self._catch_up_task = None

    def reconnected(self) -> None:
        """Live again once a new mirror has replayed the bucket: the server may have lost
        the old one's consumer (a restart), which nats-py notices only much later."""
        self._live.clear()
        self._generation += 1
        if self._catch_up_task is not None:
            self._catch_up_task.cancel()
        self._catch_up_task = asyncio.get_running_loop().create_task(
            self._catch_up(self._generation)
        )

    async def _catch_up(self, generation: int) -> None:
        backoff = Backoff(first_s=0.05)
        while generation == self._generation:
            try:
                await self._watch.stop()
                self._watch = BucketWatch(self._js, wire.CANCELS_BUCKET, self._on_entry)
                await self._watch.start(catch_up_timeout_s=30.0)
                if generation == self._generation:
                    self._live.set()
                return
            except Exception as exc:  # still reconnecting: claim first meanwhile
                log.debug("cancel_memory_catch_up_failed", error=repr(exc))
            await backoff.pause()

    def _on_entry(self, key: str, value: bytes | None, revision: int) -> None:
        self._remember(key)

    def _remember(self, task_id: str) -> None:
        now = time.monotonic()
        self._cancelled.setdefault(task_id, now)
        # forget what the bucket itself has forgotten (its keys expire, with no marker)
        horizon = now - self._max_age_s - CLOCK_MARGIN_S
        while self._cancelled:
            oldest_id, learnt = next(iter(self._cancelled.items()))  # insertion = age order
            if learnt >= horizon:
                break
            del self._cancelled[oldest_id]
