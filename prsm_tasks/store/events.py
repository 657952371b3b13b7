"""Publishing task events to PRSM_EVENTS without a round trip per event.

Each event is a plain publish whose reply subject is one of our inboxes; the stream's acks
arrive there and are counted in bulk. ``flush()`` waits until every event sent so far is
acknowledged, which shutdown and tests use.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from prsm_tasks import wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.models import RECORD_VERSION, TaskRecord

log = structlog.get_logger("prsm.events")


def event_payload(
    record: TaskRecord,
    event_type: str,
    *,
    now: float,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "v": RECORD_VERSION,
        "event_type": event_type,
        "task_id": record.task_id,
        "queue_name": record.queue_name,
        "timestamp": now,
        "attempt": len(record.attempts),
        "worker_node": record.worker_node,
        "data": data or {},
    }


class EventPublisher:
    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._inbox = ""
        self._sub: Subscription | None = None
        self._sent = 0
        self._acked = 0
        self._failed = 0
        self._all_acked = asyncio.Event()
        self._all_acked.set()

    @property
    def failed(self) -> int:
        return self._failed

    @property
    def outstanding(self) -> int:
        return self._sent - self._acked - self._failed

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        with nats_errors_as_prsm("subscribing to event acks"):
            self._sub = await self._nc.subscribe(self._inbox + ".*", cb=self._on_ack)

    async def stop(self, *, flush_timeout_s: float = 5.0) -> None:
        await self.flush(timeout_s=flush_timeout_s)
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_ack(self, msg: Msg) -> None:
        if b'"error"' in msg.data or not msg.data:
            self._failed += 1
            log.warning("event_not_stored", reply=msg.data[:200])
        else:
            self._acked += 1
        if self.outstanding <= 0:
            self._all_acked.set()

    async def publish(self, payload: dict[str, Any]) -> None:
        subject = wire.event_subject(
            payload["queue_name"], payload["task_id"], payload["event_type"]
        )
        self._sent += 1
        self._all_acked.clear()
        with nats_errors_as_prsm("publishing an event"):
            await self._nc.publish(subject, wire.pack(payload), reply=f"{self._inbox}.{self._sent}")

    async def flush(self, *, timeout_s: float = 5.0) -> bool:
        """Wait until every event published so far is stored (or known failed)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._all_acked.wait()
        except TimeoutError:
            lost = self.outstanding
            log.warning("events_unacknowledged", count=lost)
            # unacknowledged events after a reconnect will never be answered: forget them
            self._failed += lost
            self._all_acked.set()
            return False
        return True
