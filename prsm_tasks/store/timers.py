"""Timers the NATS server holds: arm, disarm, and the fires nodes pull.

A timer is one message on ``prsm.timers.at.<kind>.<key>`` in PRSM_TIMERS (a stream with
``allow_msg_schedules``), sent with the raw headers ``Nats-Schedule: @at <RFC 3339 time>``
and ``Nats-Schedule-Target: prsm.timers.fire.<kind>.<key>``. Checked on nats-server 2.15.1
(see docs/architecture.md, "Time"):

- at the due time the server stores the body on the target subject and removes the pending
  message (the fire carries ``Nats-Scheduler`` and ``Nats-Schedule-Next: purge``); a time in
  the past fires at once;
- a subject holds one schedule: arming the same (kind, key) again replaces the pending one,
  which never fires; so ``arm`` is idempotent and a re-arm moves the timer;
- purging the pending subject removes the timer (``disarm``);
- the pending message is stored like any other: it survives a server restart, and a timer
  due while the server was down fires when it is back;
- the stream has work-queue retention: a fire stays until one consumer acknowledges it.
  Each kind has one durable consumer (``prsm_timers_<kind>``) shared by every node with a
  handler for that kind, so exactly one node gets each fire, and gets it again (after
  ``ack_wait``) if it dies before acknowledging. A kind no running node handles has no
  puller: its fires wait in the stream for a node that does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from prsm_tasks import wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.errors import ServiceUnavailableError, ValidationError

log = structlog.get_logger("prsm.timers")

PUBLISH_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0
FIRE_VERSION = 1
# the latest a timer may be set for, from now: far enough for any delayed task, near enough
# that a typo (a year 9999) is refused rather than kept for ever
MAX_AHEAD_S = 366 * 86_400.0


def schedule_header(due_epoch: float) -> str:
    """``@at`` and the instant in RFC 3339, UTC, to the microsecond."""
    stamp = datetime.datetime.fromtimestamp(due_epoch, tz=datetime.UTC)
    return "@at " + stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Fire:
    """A timer that fired, as one node got it: handle it, then ``ack`` (or ``nak`` it)."""

    kind: str
    key: str
    due: float
    body: bytes
    deliveries: int
    msg: Msg

    @classmethod
    def of(cls, msg: Msg) -> Fire:
        fields: dict[str, Any] = wire.unpack(msg.data)
        kind, key = msg.subject.rsplit(".", 2)[-2:]  # prsm.timers.fire.<kind>.<key>
        return cls(
            kind=kind,
            key=key,
            due=float(fields["due"]),
            body=bytes(fields.get("body") or b""),
            deliveries=msg.metadata.num_delivered,
            msg=msg,
        )

    async def ack(self) -> None:
        """Done: the fire leaves the stream (acknowledged and confirmed by the server)."""
        with nats_errors_as_prsm(f"acknowledging timer {self.kind}.{self.key}"):
            await self.msg.ack_sync(timeout=PUBLISH_TIMEOUT_S)

    async def nak(self, delay_s: float) -> None:
        """Not now: the fire comes again (to any node of the kind) after ``delay_s``."""
        with nats_errors_as_prsm(f"handing back timer {self.kind}.{self.key}"):
            await self.msg.nak(delay=delay_s)


class Timers:
    """Arm and disarm timers; open the fire consumer of a kind."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def arm(self, kind: str, key: str, due_epoch: float, body: bytes = b"") -> None:
        """Set timer (kind, key) to fire at ``due_epoch`` with ``body``, replacing the one
        pending for (kind, key) if any. Idempotent: arming it again with the same time
        leaves one timer."""
        wire.check_timer_name(kind, key)
        if not math.isfinite(due_epoch):
            raise ValidationError(f"a timer's due time must be finite, got {due_epoch}")
        payload = wire.pack({"v": FIRE_VERSION, "due": due_epoch, "body": body})
        headers = {
            "Nats-Schedule": schedule_header(due_epoch),
            "Nats-Schedule-Target": wire.timer_fire_subject(kind, key),
        }
        try:
            with nats_errors_as_prsm(f"arming timer {kind}.{key}"):
                await self._js.publish(
                    wire.timer_pending_subject(kind, key),
                    payload,
                    headers=headers,
                    timeout=PUBLISH_TIMEOUT_S,
                )
        except nats.js.errors.APIError as exc:
            raise ServiceUnavailableError(
                f"the server refused timer {kind}.{key}: {exc.description}"
            ) from exc

    async def disarm(self, kind: str, key: str) -> None:
        """Remove the pending timer (kind, key), if any: it will not fire. A fire already
        made is not taken back: its handler finds there is nothing to do."""
        wire.check_timer_name(kind, key)
        try:
            with nats_errors_as_prsm(f"disarming timer {kind}.{key}"):
                await self._js.purge_stream(
                    wire.TIMERS_STREAM, subject=wire.timer_pending_subject(kind, key)
                )
        except nats.js.errors.APIError as exc:
            raise ServiceUnavailableError(
                f"the server refused to disarm timer {kind}.{key}: {exc.description}"
            ) from exc

    async def open_fires(self, kind: str, *, ack_wait_s: float) -> FireSubscription:
        """The kind's durable fire consumer (made if missing), bound for pulling."""
        wire.check_timer_name(kind, "k")
        name = wire.timer_consumer(kind)
        config = ConsumerConfig(
            durable_name=name,
            filter_subject=wire.timer_fire_subject(kind),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ack_wait_s,
            max_deliver=-1,  # a fire is never dropped: a handler that fails gets it again
            max_ack_pending=-1,
        )
        with nats_errors_as_prsm(f"opening the fires of {kind}"):
            await self._js.add_consumer(wire.TIMERS_STREAM, config)
            sub = await self._js.pull_subscribe_bind(name, stream=wire.TIMERS_STREAM)
        return FireSubscription(kind, sub)


class FireSubscription:
    """Pulls the fires of one kind."""

    def __init__(self, kind: str, sub: Any) -> None:
        self.kind = kind
        self._sub = sub

    async def next_fires(self, batch: int, *, wait_s: float) -> list[Fire]:
        """Up to ``batch`` fires, as soon as there is one; none after ``wait_s``."""
        with nats_errors_as_prsm(f"pulling the fires of {self.kind}"):
            try:
                msgs = await self._sub.fetch(batch, timeout=wait_s)
            except TimeoutError:  # nats' own TimeoutError too: nothing fired
                return []
        fires = []
        for msg in msgs:
            try:
                fires.append(Fire.of(msg))
            except (ValueError, KeyError, TypeError) as exc:
                # not a fire of ours (written by hand?): it would come back for ever
                log.warning("timer_fire_unreadable", subject=msg.subject, error=repr(exc))
                await msg.term()
        return fires

    async def close(self) -> None:
        # the connection may be closing: its subscriptions go with it; and a node's stop
        # must not wait on it for ever
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._sub.unsubscribe()
