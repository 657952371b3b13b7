"""The server's timers (store/timers.py) and the node's timer actor, against real servers."""

from __future__ import annotations

import asyncio
import time
import uuid

import nats

from prsm_tasks.actors.timers import TimerActor, TimerHandlers
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.errors import ValidationError
from prsm_tasks.store.timers import Fire, Timers
from prsm_tasks.topology import Topology, ensure_topology
from tests.conftest import eventually


async def _open(url: str) -> tuple[nats.NATS, Timers]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_topology(js, Topology())
    return nc, Timers(js)


class Recorder:
    """A timer handler that notes each fire it got (kind, key, body)."""

    def __init__(self) -> None:
        self.fired: list[tuple[str, bytes]] = []

    async def __call__(self, fire: Fire) -> float | None:
        self.fired.append((fire.key, fire.body))
        return None


async def _actor(timers: Timers, kind: str, handler: Recorder) -> asyncio.Task[None]:
    handlers = TimerHandlers()
    handlers.register(kind, handler)
    actor = TimerActor(timers, handlers, ack_wait_s=2.0, pull_wait_s=0.5)
    return asyncio.create_task(actor.run())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_rearm_replaces_and_disarm_removes(nats_url: str) -> None:
    nc, timers = await _open(nats_url)
    kind = f"k{uuid.uuid4().hex[:8]}"
    recorder = Recorder()
    try:
        now = time.time()
        await timers.arm(kind, "moved", now + 0.5, b"first")
        await timers.arm(kind, "moved", now + 1.0, b"second")  # replaces the pending one
        await timers.arm(kind, "gone", now + 0.5, b"never")
        await timers.disarm(kind, "gone")
        await timers.arm(kind, "past", now - 60, b"at once")
        actor = await _actor(timers, kind, recorder)
        try:
            await eventually(lambda: _at_least(recorder, 2), within_s=30)
            await asyncio.sleep(1.5)  # what would wrongly fire has had its time
        finally:
            await _stop(actor)
        assert sorted(recorder.fired) == [("moved", b"second"), ("past", b"at once")]
    finally:
        await nc.close()


async def _at_least(recorder: Recorder, count: int) -> bool:
    return len(recorder.fired) >= count


async def test_a_fire_not_acknowledged_comes_again(nats_url: str) -> None:
    """A node that dies mid-fire: another gets the fire after the ack wait."""
    nc, timers = await _open(nats_url)
    kind = f"k{uuid.uuid4().hex[:8]}"
    try:
        await timers.arm(kind, "again", time.time(), b"x")
        subscription = await timers.open_fires(kind, ack_wait_s=1.0)
        first = await subscription.next_fires(1, wait_s=20)
        assert [f.key for f in first] == ["again"]  # taken, never acknowledged: a dead node
        recorder = Recorder()
        actor = await _actor(timers, kind, recorder)
        try:
            await eventually(lambda: _at_least(recorder, 1), within_s=30)
        finally:
            await _stop(actor)
        assert recorder.fired == [("again", b"x")]
    finally:
        await nc.close()


async def test_bad_names_are_refused(nats_url: str) -> None:
    nc, timers = await _open(nats_url)
    try:
        for kind, key in (("task", "a.b"), ("Task", "k"), ("task", ""), ("task", "x" * 200)):
            try:
                await timers.arm(kind, key, time.time() + 5)
            except ValidationError:
                continue
            raise AssertionError(f"{kind!r}, {key!r} was accepted")
    finally:
        await nc.close()


async def test_a_timer_survives_a_server_restart(own_server: EmbeddedNats) -> None:
    """Armed, server stopped past the due time, started again: the timer fires."""
    nc, timers = await _open(own_server.url)
    await timers.arm("restart", "t1", time.time() + 1.0, b"kept")
    await nc.close()
    own_server.stop()
    await asyncio.sleep(1.5)
    own_server.start()
    nc, timers = await _open(own_server.url)
    recorder = Recorder()
    try:
        actor = await _actor(timers, "restart", recorder)
        try:
            await eventually(lambda: _at_least(recorder, 1), within_s=30)
        finally:
            await _stop(actor)
        assert recorder.fired == [("t1", b"kept")]
    finally:
        await nc.close()


async def test_an_unreadable_fire_is_dropped_not_looped(nats_url: str) -> None:
    nc, timers = await _open(nats_url)
    kind = f"k{uuid.uuid4().hex[:8]}"
    recorder = Recorder()
    try:
        await nc.jetstream().publish(f"prsm.timers.fire.{kind}.junk", b"\xc1 not msgpack")
        await timers.arm(kind, "good", time.time(), b"ok")
        actor = await _actor(timers, kind, recorder)
        js = nc.jetstream()

        async def all_settled() -> bool:
            info = await js.consumer_info("PRSM_TIMERS", f"prsm_timers_{kind}")
            return info.num_ack_pending == 0 and info.num_pending == 0

        try:
            await eventually(lambda: _at_least(recorder, 1), within_s=30)
            # the good fire's ack and the junk's drop both reach the server, neither loops
            await eventually(all_settled, within_s=30)
        finally:
            await _stop(actor)
        assert recorder.fired == [("good", b"ok")]
    finally:
        await nc.close()
