"""The work consumers as an external worker's claim uses them: made when no peer node made
them, and one-at-a-time no-wait pulls from them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from prsm_tasks import wire
from prsm_tasks.bus import NATS_DOWN_ERRORS, nats_errors_as_prsm
from prsm_tasks.models import BANDS_HIGH_TO_LOW, Band
from prsm_tasks.topology import ensure_work_consumers

log = structlog.get_logger("prsm.external")

PULL_TIMEOUT_S = 5.0
CONSUMER_ACK_WAIT_S = 20.0  # what a peer node's default lease sets; only used to create them
MAX_QUEUES_SEEN = 10_000


class Pulls:
    """No-wait pull requests of one claim, one at a time, answered on one wildcard inbox.

    A delivered message carries its stream subject, not the inbox: it is matched to the
    pending pull by the consumer name in its ack subject (as the node's intake does).
    """

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox() + "."
        self._count = 0
        # the pull in flight: (its reply subject, ".<consumer>.", the answer)
        self._current: tuple[str, str, asyncio.Future[Msg]] | None = None
        self._sub: Any = None
        # the last pull found no consumer (503 no responders: removed after idling)
        self.consumer_missing = False

    async def __aenter__(self) -> Pulls:
        with nats_errors_as_prsm("subscribing for a claim"):
            self._sub = await self._nc.subscribe(self._prefix + "*", cb=self._on_msg)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except NATS_DOWN_ERRORS as exc:
                log.debug("claim_unsubscribe_failed", error=repr(exc))

    async def _on_msg(self, msg: Msg) -> None:
        current = self._current
        is_status = not msg.data and bool(msg.headers) and "Status" in (msg.headers or {})
        if current is not None and not current[2].done():
            reply, consumer_token, future = current
            if (is_status and msg.subject == reply) or (
                not is_status and consumer_token in (msg.reply or "")
            ):
                future.set_result(msg)
                return
        if not is_status:  # an answer to a pull we gave up on: hand the message straight back
            await msg.nak()

    async def one(self, consumer: str, partition: int = 0) -> Msg | None:
        self._count += 1
        reply = f"{self._prefix}{self._count}"
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        stream = wire.work_stream(partition)
        # the ack subject names stream and consumer ($JS.ACK.<stream>.<consumer>...): every
        # partition's stream has a consumer of that name
        self._current = (reply, f".{stream}.{consumer}.", future)
        self.consumer_missing = False
        try:
            with nats_errors_as_prsm(f"pulling from {consumer}"):
                await self._nc.publish(
                    f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}",
                    b'{"batch":1,"no_wait":true}',
                    reply=reply,
                )
            async with asyncio.timeout(PULL_TIMEOUT_S):
                msg = await future
        except TimeoutError:
            log.warning("claim_pull_timed_out", consumer=consumer)
            return None
        finally:
            self._current = None
        if not msg.data and msg.headers and "Status" in msg.headers:
            self.consumer_missing = msg.headers["Status"] == "503"
            return None  # 404 no messages (or 408/409): this consumer has nothing now
        return msg


class ClaimConsumers:
    """The band consumers of the queues claims pull from, made when no peer node made them.

    Consumers made here go away after ``idle_s`` without a pull (the server removes them), so
    one last used longer ago than half of that is looked up again before it is pulled from.
    """

    def __init__(self, js: JetStreamContext, *, idle_s: float, partitions: int = 1) -> None:
        self._js = js
        self._idle_s = idle_s
        self._partitions = partitions
        self._rotation = 0  # where the next pull starts among the partitions
        self._seen: dict[str, float] = {}  # queue -> when a claim last used its consumers

    async def ensure(self, queue: str) -> None:
        now = time.monotonic()
        seen = self._seen.get(queue)
        if seen is not None and now - seen < self._idle_s / 2:
            self._seen[queue] = now
            return
        for band in BANDS_HIGH_TO_LOW:  # each band's consumer idles (and goes) on its own
            await self._ensure_band(queue, band, range(self._partitions))
        if len(self._seen) > MAX_QUEUES_SEEN:
            self._seen.clear()  # bounded: forgetting costs one lookup per queue
        self._seen[queue] = now

    async def _ensure_band(self, queue: str, band: Band, partitions: Sequence[int]) -> None:
        """One band's consumers, created (with the idle limit) where they do not exist; an
        existing one, a peer node's maybe, is left as it is."""
        for partition in partitions:
            try:
                with nats_errors_as_prsm(f"reading the consumers of {queue}"):
                    await self._js.consumer_info(
                        wire.work_stream(partition), wire.work_consumer(queue, band)
                    )
            except nats.js.errors.NotFoundError:
                await ensure_work_consumers(
                    self._js,
                    queue,
                    lease_s=CONSUMER_ACK_WAIT_S,
                    idle_s=self._idle_s,
                    bands=(band,),
                    partitions=(partition,),
                )

    async def pull(
        self, pulls: Pulls, queue: str, band: Band, partitions: Sequence[int] | None = None
    ) -> Msg | None:
        """The next message of one band, from the first partition (of ``partitions``, all by
        default) that has one, starting at a rotating offset so none is favoured; a consumer
        removed since it was looked up (it idled) is made again and pulled once more."""
        consumer = wire.work_consumer(queue, band)
        order = list(partitions if partitions is not None else range(self._partitions))
        self._rotation += 1
        start = self._rotation % len(order)
        for partition in order[start:] + order[:start]:
            msg = await pulls.one(consumer, partition)
            if msg is None and pulls.consumer_missing:
                await self._ensure_band(queue, band, (partition,))
                msg = await pulls.one(consumer, partition)
            if msg is not None:
                return msg
        return None
