"""Mirroring a KV bucket into memory: one ordered consumer, last value per key, then live.

The consumer starts with the latest value of every key, reports ``caught_up`` once it has
delivered what the bucket held when it started, and then passes on every write as it
happens. nats-py recreates an ordered consumer after a gap or a lost server from the last
sequence it delivered, so the mirror neither misses nor reorders a write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from prsm_tasks.bus import nats_errors_as_prsm

log = structlog.get_logger("prsm.store.watch")

KV_OPERATION = "KV-Operation"
MARKER_REASON = "Nats-Marker-Reason"
REMOVED_OPERATIONS = frozenset({"DEL", "PURGE"})

# $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time ns>.<pending>;
# the longer form adds the domain and the account hash, as Msg.Ack numbers its tokens
V1_ACK_TOKENS = 9

# key, value (None once deleted), revision
EntrySink = Callable[[str, bytes | None, int], None]


def sequence_and_pending(reply: str) -> tuple[int, int]:
    """A delivery's stream sequence and the messages pending after it, from its reply
    subject: what ``msg.metadata`` tells, without the dataclasses and the datetime it builds
    for every write an edge mirrors."""
    tokens = reply.split(".")
    if len(tokens) == V1_ACK_TOKENS:
        return int(tokens[5]), int(tokens[8])
    return int(tokens[Msg.Ack.StreamSeq]), int(tokens[Msg.Ack.NumPending])


class BucketWatch:
    def __init__(self, js: JetStreamContext, bucket: str, on_entry: EntrySink) -> None:
        self._js = js
        self.bucket = bucket
        self._prefix = f"$KV.{bucket}."
        self._on_entry = on_entry
        self._sub: object | None = None
        self.caught_up = asyncio.Event()
        self.delivered = 0

    async def start(self, *, catch_up_timeout_s: float = 120.0) -> None:
        """Subscribe and return once every key the bucket held at the start was delivered."""
        with nats_errors_as_prsm(f"watching {self.bucket}"):
            sub = await self._js.subscribe(
                self._prefix + ">",
                stream=f"KV_{self.bucket}",
                cb=self._on_msg,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                config=ConsumerConfig(mem_storage=True),
                pending_msgs_limit=1_000_000,
                pending_bytes_limit=1024 * 1024 * 1024,
            )
            self._sub = sub
            info = await sub.consumer_info()
        if info.num_pending == 0 and info.delivered.consumer_seq == 0:
            # nothing to deliver (the bucket may still have held keys that expired: its stream
            # sequence is past 0, which is why the consumer's own count decides)
            self.caught_up.set()
        async with asyncio.timeout(catch_up_timeout_s):
            await self.caught_up.wait()

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()  # type: ignore[attr-defined]
            except Exception as exc:  # the connection may be closing already
                log.debug("watch_unsubscribe_failed", bucket=self.bucket, error=repr(exc))

    async def _on_msg(self, msg: Msg) -> None:
        sequence, pending = sequence_and_pending(msg.reply)
        headers = msg.headers
        removed = False
        if headers:
            operation = headers.get(KV_OPERATION)
            removed = operation in REMOVED_OPERATIONS or bool(headers.get(MARKER_REASON))
        key = msg.subject[len(self._prefix) :]
        try:
            self._on_entry(key, None if removed else msg.data, sequence)
        except Exception as exc:  # one unreadable value must not stop the mirror
            log.warning("watch_entry_failed", bucket=self.bucket, key=key, error=repr(exc))
        self.delivered += 1
        if not self.caught_up.is_set() and pending == 0:
            self.caught_up.set()
