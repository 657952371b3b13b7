"""One-at-a-time no-wait pulls from the work consumers, for an external worker's claim."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from prsm_tasks import wire
from prsm_tasks.bus import NATS_DOWN_ERRORS, nats_errors_as_prsm

log = structlog.get_logger("prsm.external")

PULL_TIMEOUT_S = 5.0


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

    async def one(self, consumer: str) -> Msg | None:
        self._count += 1
        reply = f"{self._prefix}{self._count}"
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._current = (reply, f".{consumer}.", future)
        self.consumer_missing = False
        try:
            with nats_errors_as_prsm(f"pulling from {consumer}"):
                await self._nc.publish(
                    f"$JS.API.CONSUMER.MSG.NEXT.{wire.WORK_STREAM}.{consumer}",
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
