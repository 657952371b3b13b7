"""Intake: pull only as much work as there are free slots, highest band first.

One durable pull consumer per (queue, band). A sweep asks the bands from critical down to
low with no-wait pull requests sized to the free slots, so a node never holds a message it
cannot start and a newly enqueued critical task is the next one taken when a slot frees.

Knowing which consumers are empty without asking each one every time:
- a pair (queue, band) found empty gets a plain NATS subscription on its wake subject, which
  producers publish to once a work message is stored (the raw work publish would be heard
  before JetStream stored it); subscribe first, then one confirming pull, so a task stored
  in between is never missed;
- redeliveries (lease lapsed, retry backoff) publish nothing, so empty pairs are re-polled
  every ``repoll_s`` as well.

Starvation: a lower band whose oldest message has waited longer than ``starvation_age_s``
gets half of the free slots of each sweep until it has caught up.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from prsm_tasks import wire
from prsm_tasks.models import BANDS_HIGH_TO_LOW, Band

log = structlog.get_logger("prsm.intake")

PULL_TIMEOUT_S = 5.0


class PairState(enum.Enum):
    ACTIVE = "active"  # may hold messages: pull it
    CONFIRM = "confirm"  # found empty, wake subscription placed: pull once more to be sure
    EMPTY = "empty"  # empty and watched: skip until woken or re-polled


@dataclass(eq=False)
class WorkPair:
    queue: str
    band: Band
    consumer: str
    subject: str
    wake_subject: str
    state: PairState = PairState.ACTIVE
    wakes: int = 0
    wake_sub: Subscription | None = None
    aged: bool = False
    last_pulled_at: float = field(default_factory=time.monotonic)


class Puller:
    """Raw no-wait pull requests answered on one inbox; one request in flight at a time."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._inbox = ""
        self._sub: Subscription | None = None
        self._request_no = 0
        self._reply = ""
        self._consumer_token = ""
        self._batch = 0
        self._msgs: list[Msg] = []
        self._done: asyncio.Future[None] | None = None

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox + ".*", cb=self._on_msg)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def pull(self, consumer: str, batch: int) -> list[Msg]:
        self._request_no += 1
        self._reply = f"{self._inbox}.{self._request_no}"
        self._consumer_token = f".{consumer}."
        self._batch = batch
        self._msgs = []
        self._done = asyncio.get_running_loop().create_future()
        request = b'{"batch":%d,"no_wait":true}' % batch
        try:
            await self._nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{wire.WORK_STREAM}.{consumer}",
                request,
                reply=self._reply,
            )
            async with asyncio.timeout(PULL_TIMEOUT_S):
                await self._done
        except TimeoutError:
            log.warning("pull_timed_out", consumer=consumer, batch=batch, got=len(self._msgs))
        finally:
            self._done = None
            self._reply = ""
        return self._msgs

    async def _on_msg(self, msg: Msg) -> None:
        headers = msg.headers
        if not msg.data and headers and "Status" in headers:
            # 404 no messages / 408 expired / 409 limits: the request is over
            if msg.subject == self._reply and self._done is not None and not self._done.done():
                self._done.set_result(None)
            return
        done = self._done
        if done is None or done.done() or self._consumer_token not in msg.reply:
            # a late answer to a request we gave up on: hand it straight back
            await msg.nak()
            return
        self._msgs.append(msg)
        if len(self._msgs) >= self._batch:
            done.set_result(None)


def _pending_after(msg: Msg) -> int:
    """How many messages the consumer still holds after this one (last token of the reply)."""
    return int(msg.reply.rsplit(".", 1)[1])


def _stored_at(msg: Msg) -> float:
    return int(msg.reply.split(".")[-2]) / 1e9


class Intake:
    def __init__(
        self,
        *,
        nc: NatsClient,
        queues: list[str],
        free_slots: Callable[[], int],
        dispatch: Callable[[Msg, WorkPair], None],
        starvation_age_s: float,
        repoll_s: float = 1.0,
    ) -> None:
        self._nc = nc
        self._free_slots = free_slots
        self._dispatch = dispatch
        self._starvation_age_s = starvation_age_s
        self._repoll_s = repoll_s
        self._puller = Puller(nc)
        self._pairs_by_band: dict[Band, list[WorkPair]] = {
            band: [
                WorkPair(
                    queue=queue,
                    band=band,
                    consumer=wire.work_consumer(queue, band),
                    subject=wire.work_subject(queue, band),
                    wake_subject=wire.wake_subject(queue, band),
                )
                for queue in queues
            ]
            for band in BANDS_HIGH_TO_LOW
        }
        self._all_pairs = [pair for pairs in self._pairs_by_band.values() for pair in pairs]
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_repoll = time.monotonic()
        self._last_age_check = time.monotonic()
        self._rotation = 0

    def wake(self) -> None:
        """A slot freed, a pair woke, or the connection came back: look again."""
        self._wake.set()

    def mark_all_active(self) -> None:
        for pair in self._all_pairs:
            pair.state = PairState.ACTIVE
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        await self._puller.start()
        try:
            while not self._stopping:
                self._wake.clear()
                free = self._free_slots()
                if free > 0 and await self._sweep(free) > 0:
                    continue
                if free > 0 and any(p.state is PairState.CONFIRM for p in self._all_pairs):
                    continue  # confirm the drained pairs now, not at the next re-poll
                if self._stopping:
                    break
                try:
                    async with asyncio.timeout(self._repoll_s):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            await self._puller.stop()
            for pair in self._all_pairs:
                await self._unwatch(pair)

    async def _sweep(self, free: int) -> int:
        """Pull up to ``free`` messages, aged bands first, then critical -> low."""
        now = time.monotonic()
        if now - self._last_repoll >= self._repoll_s:
            self._last_repoll = now
            for pair in self._all_pairs:
                if pair.state is PairState.EMPTY:
                    pair.state = PairState.CONFIRM
        if now - self._last_age_check >= 1.0:
            self._last_age_check = now
            await self._check_starvation(now)
        taken = 0
        for pair in self._all_pairs:
            if pair.aged and taken < free and not self._stopping:
                taken += await self._pull(pair, max(1, (free - taken) // 2), aged_pull=True)
        self._rotation += 1
        for pairs in self._pairs_by_band.values():
            start = self._rotation % len(pairs)
            for pair in pairs[start:] + pairs[:start]:
                if taken >= free or self._stopping:
                    return taken
                if pair.state is not PairState.EMPTY:
                    taken += await self._pull(pair, free - taken)
        return taken

    async def _pull(self, pair: WorkPair, batch: int, *, aged_pull: bool = False) -> int:
        wakes_before = pair.wakes
        msgs = await self._puller.pull(pair.consumer, batch)
        woken_meanwhile = pair.wakes != wakes_before
        pair.last_pulled_at = time.monotonic()
        if aged_pull and (not msgs or time.time() - _stored_at(msgs[-1]) < self._starvation_age_s):
            pair.aged = False
        for msg in msgs:
            self._dispatch(msg, pair)
        if msgs and _pending_after(msgs[-1]) > 0:
            pair.state = PairState.ACTIVE
            await self._unwatch(pair)  # a backlog: stop hearing about every publish
        elif woken_meanwhile:
            pair.state = PairState.ACTIVE
        elif not msgs and pair.state is PairState.CONFIRM and pair.wake_sub is not None:
            pair.state = PairState.EMPTY
        else:
            # drained: watch for the next task, then confirm with one more pull
            await self._watch(pair)
            pair.state = PairState.CONFIRM
        return len(msgs)

    async def _watch(self, pair: WorkPair) -> None:
        if pair.wake_sub is not None:
            return

        async def on_publish(_msg: Msg) -> None:
            # no unsubscribe here: it would cancel this very callback's task mid-way
            pair.state = PairState.ACTIVE
            pair.wakes += 1
            self._wake.set()

        pair.wake_sub = await self._nc.subscribe(pair.wake_subject, cb=on_publish)

    async def _unwatch(self, pair: WorkPair) -> None:
        sub, pair.wake_sub = pair.wake_sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection may be closing; the sub dies with it
                log.debug("unwatch_failed", subject=pair.subject, error=repr(exc))

    async def _check_starvation(self, now: float) -> None:
        """Mark lower bands whose oldest message waited too long while higher bands ran."""
        for band in BANDS_HIGH_TO_LOW[1:]:
            for pair in self._pairs_by_band[band]:
                if pair.aged or pair.state is PairState.EMPTY:
                    continue
                if now - pair.last_pulled_at < self._starvation_age_s:
                    continue
                stored_at = await self._head_stored_at(pair)
                if stored_at is not None and time.time() - stored_at >= self._starvation_age_s:
                    log.info("band_starving", queue=pair.queue, band=str(pair.band))
                    pair.aged = True

    async def _head_stored_at(self, pair: WorkPair) -> float | None:
        reply = await self._nc.request(
            f"$JS.API.STREAM.MSG.GET.{wire.WORK_STREAM}",
            json.dumps({"seq": 0, "next_by_subj": pair.subject}).encode(),
            timeout=PULL_TIMEOUT_S,
        )
        message = json.loads(reply.data).get("message")
        if not message:
            return None
        stamp = message["time"].rstrip("Z")
        if "." in stamp:
            whole, fraction = stamp.split(".")
            stamp = f"{whole}.{fraction[:6]}"
        return datetime.fromisoformat(stamp + "+00:00").timestamp()
