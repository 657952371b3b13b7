"""The event publisher on a real server: a faulty event is dropped without holding up the
others, and a batch whose ack was lost is sent again while publishing goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.msg import Msg

from prsm_tasks import wire
from prsm_tasks.store.events import EventPublisher, event_dict
from prsm_tasks.store.opener import Connection, Stores, open_stores
from tests.conftest import eventually


@pytest.fixture
async def stores(nats_url: str) -> AsyncIterator[Stores]:
    async with open_stores(Connection(servers=[nats_url], name="publisher-test")) as opened:
        yield opened


def event(queue: str, task_id: str, **data: Any) -> dict[str, Any]:
    return event_dict(
        task_id=task_id,
        queue_name=queue,
        event_type="task_progress",
        attempt=1,
        worker_node=None,
        now=0.0,
        data=data,
    )


async def received_on(stores: Stores, queue: str) -> tuple[list[str], Any]:
    seen: list[str] = []

    async def on_msg(msg: Msg) -> None:
        seen.append(msg.subject.split(".")[3])  # prsm.events.<queue>.<task id>.<type>

    sub = await stores.nc.subscribe(f"{wire.EVENTS_PREFIX}.{queue}.>", cb=on_msg)
    return seen, sub


async def test_a_faulty_event_is_dropped_and_the_others_go_on(stores: Stores, queue: str) -> None:
    seen, sub = await received_on(stores, queue)
    publisher = EventPublisher(stores.nc)
    await publisher.start()
    try:
        good = [wire.new_task_id() for _ in range(20)]
        for index, task_id in enumerate(good):
            if index == 3:  # a queue name with a newline breaks the PUB line
                await publisher.publish(event(queue + "\n", wire.new_task_id()))
                await publisher.publish_now(event(queue + "\n", wire.new_task_id()))
            if index == 7:
                await publisher.publish(event(queue, wire.new_task_id(), blob=object()))
            if index == 11:
                big = "x" * (stores.nc.max_payload + 1)
                await publisher.publish(event(queue, wire.new_task_id(), blob=big))
            await publisher.publish(event(queue, task_id, n=index))
        assert await publisher.flush(timeout_s=30.0)
        await eventually(lambda: _async(set(good) <= set(seen)))
        assert publisher.dropped == 4
        assert publisher.outstanding == 0
        assert stores.nc.is_connected
    finally:
        await sub.unsubscribe()
        await publisher.stop()


class LosesOneAck(EventPublisher):
    """Drops the first ack of the batch that carries ``lost_task_id`` (an ack lost on the
    way back, as over a reconnect): our own seam, the server is real."""

    def __init__(self, *args: Any, lost_task_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lost_task_id = lost_task_id
        self.lost = False

    async def _on_ack(self, msg: Msg) -> None:
        token = msg.subject[len(self._inbox) :]
        entry = self._unconfirmed.get(token)
        carries = entry is not None and any(self.lost_task_id in s for s, _ in entry[1])
        if carries and not self.lost:
            self.lost = True
            return
        await super()._on_ack(msg)


async def test_a_lost_ack_is_resent_under_steady_publishing(stores: Stores, queue: str) -> None:
    seen, sub = await received_on(stores, queue)
    lost_task_id = wire.new_task_id()
    publisher = LosesOneAck(stores.nc, ack_timeout_s=1.0, lost_task_id=lost_task_id)
    await publisher.start()
    try:
        await publisher.publish(event(queue, lost_task_id))
        # steady load: an event every 50 ms, the publisher never idles for a second
        async with asyncio.timeout(30.0):
            while seen.count(lost_task_id) < 2:
                await publisher.publish(event(queue, wire.new_task_id()))
                await asyncio.sleep(0.05)
        assert publisher.lost and publisher.resent >= 1
        assert await publisher.flush(timeout_s=30.0)
    finally:
        await sub.unsubscribe()
        await publisher.stop()


async def _async(value: bool) -> bool:
    return value
