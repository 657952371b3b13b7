"""Intake: pull only as much work as there are free slots, highest band first.

One durable pull consumer per (queue, band) on each partition's work stream. A sweep asks
the bands from critical down to low with no-wait pull requests sized to the free slots, so a
node never starts a message out of priority order and a newly enqueued critical task is the
next one taken when a slot frees. Within a band the pairs (partition, queue) are asked from
an offset that moves each sweep, so no partition and no queue is favoured.

A pair (partition, queue, band) found empty gets a parked pull: a long-poll request for one
message that the server answers the moment a message is stored there or comes back (a
redelivery after a lapsed lease, the end of a retry's back-off). Parked pulls reserve no slot: one
answered while the node is full is handed straight back with ``nak`` (for a peer, or for
this node's next sweep in priority order) and marks its pair for that sweep. The server
drops the parked pulls of a connection that closes, so a dead node holds no message.

Starvation: a lower band whose oldest message has waited longer than ``starvation_age_s``
gets half of the free slots of each sweep until it has caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
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
# a parked pull the server neither answered nor expired (lost with a restarted consumer
# leader, say) is placed again this long after it should have expired
PARK_GRACE_S = 5.0


class PairState(enum.Enum):
    ACTIVE = "active"  # may hold messages: pull it in the next sweep
    IDLE = "idle"  # found empty: park a pull on it
    PARKED = "parked"  # empty, with a parked pull the server answers when work arrives


@dataclass(eq=False)
class WorkPair:
    queue: str
    band: Band
    consumer: str
    subject: str
    partition: int = 0
    state: PairState = PairState.ACTIVE
    park_token: str = ""
    parked_at: float = 0.0
    aged: bool = False
    last_pulled_at: float = field(default_factory=time.monotonic)

    @property
    def stream(self) -> str:
        return wire.work_stream(self.partition)

    @property
    def next_subject(self) -> str:
        return f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}"

    @property
    def ack_token(self) -> str:
        """What the ack subject of its messages holds: ``$JS.ACK.<stream>.<consumer>...``
        (every partition's stream has a consumer of the same name)."""
        return f".{self.stream}.{self.consumer}."


def _status(msg: Msg) -> str | None:
    """The status of a pull's answer without a message (404, 408, 409), else None."""
    headers = msg.headers
    if not msg.data and headers and "Status" in headers:
        return headers["Status"]
    return None


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

    @property
    def reserved(self) -> int:
        """Slots the request in flight may fill: all of its batch until the caller has
        dispatched what arrived (received messages are not in flight before that)."""
        return self._batch if self._done is not None else 0

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox + ".*", cb=self._on_msg)

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):  # the connection may be closing
                await sub.unsubscribe()

    async def pull(self, pair: WorkPair, batch: int) -> list[Msg]:
        self._request_no += 1
        self._reply = f"{self._inbox}.{self._request_no}"
        self._consumer_token = pair.ack_token
        self._batch = batch
        self._msgs = []
        self._done = asyncio.get_running_loop().create_future()
        try:
            await self._nc.publish(
                pair.next_subject, b'{"batch":%d,"no_wait":true}' % batch, reply=self._reply
            )
            async with asyncio.timeout(PULL_TIMEOUT_S):
                await self._done
        except TimeoutError:
            log.warning("pull_timed_out", consumer=pair.consumer, batch=batch, got=len(self._msgs))
        finally:
            self._done = None
            self._reply = ""
        return self._msgs

    async def _on_msg(self, msg: Msg) -> None:
        if _status(msg) is not None:
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
        partitions: int = 1,
        free_slots: Callable[[], int],
        dispatch: Callable[[Msg, WorkPair], None],
        starvation_age_s: float,
        park_s: float = 10.0,
        check_s: float = 1.0,
    ) -> None:
        self._nc = nc
        self._free_slots = free_slots
        self._dispatch = dispatch
        self._starvation_age_s = starvation_age_s
        self._park_request = b'{"batch":1,"expires":%d}' % int(park_s * 1e9)
        self._park_s = park_s
        self._check_s = check_s
        self._puller = Puller(nc)
        self._park_prefix = ""
        self._park_sub: Subscription | None = None
        self._park_no = 0
        self._pairs_by_band: dict[Band, list[WorkPair]] = {band: [] for band in BANDS_HIGH_TO_LOW}
        self._all_pairs: list[WorkPair] = []
        for band in BANDS_HIGH_TO_LOW:
            for queue in queues:
                for partition in range(partitions):
                    pair = WorkPair(
                        queue=queue,
                        band=band,
                        consumer=wire.work_consumer(queue, band),
                        subject=wire.work_subject(queue, band, partition),
                        partition=partition,
                    )
                    self._pairs_by_band[band].append(pair)
                    self._all_pairs.append(pair)
        # (stream, consumer) -> its pair: the ack subject of a message names both
        self._pairs_by_consumer = {(pair.stream, pair.consumer): pair for pair in self._all_pairs}
        self._pairs_by_token: dict[str, WorkPair] = {}
        self._held: list[tuple[Msg, WorkPair]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_check = time.monotonic()
        self._rotation = 0

    def wake(self) -> None:
        """A slot freed, a parked pull was answered, or the connection came back: look again."""
        self._wake.set()

    def mark_all_active(self) -> None:
        """After a reconnect: the server forgot our parked pulls; look at every pair again."""
        for pair in self._all_pairs:
            pair.state = PairState.ACTIVE
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        for pair in self._all_pairs:  # a restarted intake: parked pulls of the last run are gone
            pair.state = PairState.ACTIVE
        await self._puller.start()
        self._park_prefix = self._nc.new_inbox() + "."
        self._park_sub = await self._nc.subscribe(self._park_prefix + "*", cb=self._on_parked)
        try:
            while not self._stopping:
                self._wake.clear()
                if self._free_slots() > 0 and await self._sweep() > 0:
                    continue
                if self._stopping:
                    break
                await self._park_idle_pairs()
                try:
                    async with asyncio.timeout(self._check_s):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            await self._puller.stop()
            await self._stop_parking()
            await self._release_held()  # stopping: handed back

    def _available(self) -> int:
        return self._free_slots() - self._puller.reserved

    async def _sweep(self) -> int:
        """Pull as many messages as there are free slots, aged bands first, then critical -> low."""
        now = time.monotonic()
        if now - self._last_check >= self._check_s:
            self._last_check = now
            self._replace_lost_parks(now)
            await self._check_starvation(now)
        taken = 0
        for pair in self._all_pairs:
            if pair.aged and not self._stopping and (free := self._available()) > 0:
                taken += await self._pull(pair, max(1, free // 2), aged_pull=True)
        self._rotation += 1
        for pairs in self._pairs_by_band.values():
            start = self._rotation % len(pairs)
            for pair in pairs[start:] + pairs[:start]:
                if self._stopping or (free := self._available()) <= 0:
                    return taken
                if pair.state is PairState.ACTIVE:
                    taken += await self._pull(pair, free)
        return taken

    async def _pull(self, pair: WorkPair, batch: int, *, aged_pull: bool = False) -> int:
        msgs = await self._puller.pull(pair, batch)
        pair.last_pulled_at = time.monotonic()
        if aged_pull and (not msgs or time.time() - _stored_at(msgs[-1]) < self._starvation_age_s):
            pair.aged = False
        for msg in msgs:
            self._dispatch(msg, pair)
        if pair.state is PairState.ACTIVE:
            pair.state = (
                PairState.ACTIVE if msgs and _pending_after(msgs[-1]) > 0 else PairState.IDLE
            )
        if self._held:
            await self._release_held()
        return len(msgs)

    # --- parked pulls ----------------------------------------------------------------------

    async def _park_idle_pairs(self) -> None:
        """Every empty pair gets a parked pull, also while the node is full (see the top)."""
        for pair in self._all_pairs:
            if pair.state is not PairState.IDLE or self._stopping:
                continue
            self._park_no += 1
            token = str(self._park_no)
            try:
                await self._nc.publish(
                    pair.next_subject, self._park_request, reply=self._park_prefix + token
                )
            except Exception as exc:  # reconnecting: the pair stays idle, parked again later
                log.debug("park_failed", subject=pair.subject, error=repr(exc))
                return
            self._pairs_by_token.pop(pair.park_token, None)
            self._pairs_by_token[token] = pair
            pair.park_token = token
            pair.parked_at = time.monotonic()
            pair.state = PairState.PARKED

    async def _on_parked(self, msg: Msg) -> None:
        status = _status(msg)
        if status is not None:  # on the reply subject of the parked pull it ends
            token = msg.subject[len(self._park_prefix) :]
            pair = self._pairs_by_token.pop(token, None)
            if pair is not None and pair.park_token == token and pair.state is PairState.PARKED:
                # 408: it expired, park again; anything else (409: the server dropped it,
                # the consumer changed): let the next sweep look at the pair first
                pair.state = PairState.IDLE if status == "408" else PairState.ACTIVE
                self._wake.set()
            return
        # a message keeps its own subject: its ack subject names the consumer, so the pair
        parts = msg.reply.split(".", 4)
        pair = self._pairs_by_consumer.get((parts[2], parts[3])) if len(parts) > 3 else None
        if pair is None:
            await msg.nak()
            return
        self._pairs_by_token.pop(pair.park_token, None)
        if pair.state is PairState.PARKED:  # batch 1: that parked pull is answered
            pair.state = PairState.ACTIVE if _pending_after(msg) > 0 else PairState.IDLE
        if not self._stopping and self._available() > 0:
            pair.last_pulled_at = time.monotonic()
            self._dispatch(msg, pair)
        elif not self._stopping and self._free_slots() > 0:
            self._held.append((msg, pair))  # a sweep's pull in flight may fill those slots
        else:
            await self._hand_back(msg, pair)
        self._wake.set()

    async def _hand_back(self, msg: Msg, pair: WorkPair) -> None:
        """Full: a peer, or our next sweep in priority order, takes it."""
        if pair.state is not PairState.PARKED:
            pair.state = PairState.ACTIVE
        try:
            await msg.nak()
        except Exception as exc:  # the connection is closing: its lease lapses instead
            log.debug("nak_failed", subject=pair.subject, error=repr(exc))

    async def _release_held(self) -> None:
        """After a sweep's pull: start what parked pulls brought meanwhile, if it fits."""
        held, self._held = self._held, []
        for msg, pair in held:
            if not self._stopping and self._available() > 0:
                pair.last_pulled_at = time.monotonic()
                self._dispatch(msg, pair)
            else:
                await self._hand_back(msg, pair)

    def _replace_lost_parks(self, now: float) -> None:
        lost_before = now - self._park_s - PARK_GRACE_S
        for pair in self._all_pairs:
            if pair.state is PairState.PARKED and pair.parked_at < lost_before:
                log.info("parked_pull_lost", subject=pair.subject)
                pair.state = PairState.IDLE

    async def _stop_parking(self) -> None:
        """Withdraw interest; what the server sent before it heard us is handed back (nak)."""
        sub, self._park_sub = self._park_sub, None
        if sub is not None:
            try:
                await sub.drain()
            except Exception as exc:  # the connection is closing: its parked pulls die with it
                log.debug("park_drain_failed", error=repr(exc))

    # --- starvation --------------------------------------------------------------------------

    async def _check_starvation(self, now: float) -> None:
        """Mark lower bands whose oldest message waited too long while higher bands ran."""
        for band in BANDS_HIGH_TO_LOW[1:]:
            for pair in self._pairs_by_band[band]:
                if pair.aged or pair.state is not PairState.ACTIVE:
                    continue
                if now - pair.last_pulled_at < self._starvation_age_s:
                    continue
                stored_at = await self._head_stored_at(pair)
                if stored_at is not None and time.time() - stored_at >= self._starvation_age_s:
                    log.info("band_starving", queue=pair.queue, band=str(pair.band))
                    pair.aged = True

    async def _head_stored_at(self, pair: WorkPair) -> float | None:
        reply = await self._nc.request(
            f"$JS.API.STREAM.MSG.GET.{pair.stream}",
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
