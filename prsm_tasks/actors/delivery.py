"""The work message an attempt runs from: what it says about itself, its lease, its ack.

JetStream encodes the delivery in the reply subject:
``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>``.
Reading those tokens directly is what the hot path can afford (nats-py's ``msg.metadata``
builds objects for all of them).
"""

from __future__ import annotations

import contextlib
import time

from nats.aio.msg import Msg


class Delivery:
    __slots__ = ("msg", "renewed_at", "seq")

    def __init__(self, msg: Msg) -> None:
        self.msg = msg
        self.seq = int(msg.reply.split(".")[5])  # its sequence in the work stream
        self.renewed_at = time.monotonic()

    @property
    def deliveries(self) -> int:
        """How many times JetStream delivered this message."""
        return int(self.msg.reply.split(".")[4])

    @property
    def stored_at(self) -> float:
        """When the server stored the message, epoch s."""
        return int(self.msg.reply.rsplit(".", 2)[1]) / 1e9

    @property
    def settled(self) -> bool:
        return self.msg.is_acked

    def replace(self, msg: Msg) -> None:
        """Our own lease lapsed and the message came back to us: keep the newer token."""
        self.msg = msg

    async def renew(self) -> None:
        """Keep the lease: JetStream waits another ack-wait before it delivers it again."""
        self.renewed_at = time.monotonic()
        await self.msg.in_progress()

    async def ack(self) -> None:
        await self.msg.ack()

    async def nak(self, delay_s: float | None = None) -> None:
        await self.msg.nak(delay=delay_s)

    async def term(self) -> None:
        await self.msg.term()

    async def nak_unless_settled(self) -> None:
        """Hand the message back unless it was settled already (a late claim may have)."""
        if not self.msg.is_acked:
            with contextlib.suppress(Exception):  # NATS away: the lease lapses instead
                await self.msg.nak()
