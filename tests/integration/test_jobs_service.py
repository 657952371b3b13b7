"""Persistent jobs' services (services/jobs.py): listings and resume, tenant-scoped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from prsm_tasks import Client, Fail, TaskContext
from prsm_tasks.errors import (
    NoCheckpointError,
    TaskNotFinalError,
    TaskNotFoundError,
    TaskNotResumableError,
)
from prsm_tasks.models import AttemptOutcome, TaskStatus
from prsm_tasks.services import jobs
from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import QueueRules, Services, open_services
from prsm_tasks.store.opener import Connection, open_stores
from prsm_tasks.topology import Topology
from tests.conftest import NodeFactory, eventually

MALLORY = Principal(user="mallory", tenant="evil", roles=frozenset({"admin"}))


@pytest.fixture
async def services(nats_url: str, topology: Topology) -> AsyncIterator[Services]:
    connection = Connection(servers=nats_url, name="test-edge", topology=topology)
    async with open_stores(connection) as stores, open_services(stores, QueueRules()) as opened:
        yield opened


@pytest.fixture
def tenant() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def alice(tenant: str) -> Principal:
    return Principal(user="alice", tenant=tenant, roles=frozenset())


@pytest.fixture
async def acme(nats_url: str, topology: Topology, tenant: str) -> AsyncIterator[Client]:
    async with Client(nats_url, topology=topology, user="alice", tenant=tenant) as connected:
        yield connected


def steps_job(ran: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    """Ten steps, a checkpoint after each; the first attempt fails for good after step 4."""

    async def job(ctx: TaskContext) -> int:
        done = (ctx.checkpoint_state or {}).get("done", 0)
        while done < 10:
            done += 1
            ran.append((ctx.attempt, done))
            await ctx.checkpoint({"done": done}, summary=f"{done}/10")
            if ctx.attempt == 1 and done == 4:
                raise Fail("disk full")
        return done

    return job


async def test_a_failed_job_is_listed_and_resumes_from_its_checkpoint(
    services: Services, alice: Principal, acme: Client, queue: str, start_node: NodeFactory
) -> None:
    ran: list[tuple[int, int]] = []
    async with start_node({queue: steps_job(ran)}):
        record = await acme.enqueue(queue, {})
        failed = await acme.wait(record.task_id, timeout=30)
        assert failed.status is TaskStatus.FAILED

        async def listed() -> bool:
            page = jobs.list_resumable(services, alice)
            return [item.task_id for item in page.items] == [record.task_id]

        await eventually(listed)
        (item,) = jobs.list_checkpoints(services, alice).items
        assert (item.seq, item.attempt, item.summary, item.status) == (4, 1, "4/10", "failed")
        assert item.resumable and not item.resumes_by_itself and item.size_bytes > 0
        assert item.as_dict()["at"].endswith("Z")

        again = await jobs.resume(services, alice, record.task_id)
        assert again.status is TaskStatus.ENQUEUED
        final = await acme.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED and final.result == 10
    # steps 1..4 ran once, in the first attempt; the resume went on from step 5
    assert ran == [(1, step) for step in range(1, 5)] + [(2, step) for step in range(5, 11)]
    assert [a.outcome for a in final.attempts] == [AttemptOutcome.FAILED, AttemptOutcome.COMPLETED]
    assert final.metadata["requeues"][-1]["reason"] == "resumed from checkpoint 4"

    async def done_listed() -> bool:
        page = jobs.list_checkpoints(services, alice)
        return [(i.status, i.seq) for i in page.items] == [("completed", 10)]

    await eventually(done_listed)
    assert jobs.list_resumable(services, alice).items == []
    with pytest.raises(TaskNotResumableError):
        await jobs.resume(services, alice, record.task_id)


async def test_resume_is_refused_without_a_checkpoint_or_across_tenants(
    services: Services, alice: Principal, acme: Client, queue: str, start_node: NodeFactory
) -> None:
    async def fails(ctx: TaskContext) -> None:
        raise Fail("no checkpoint saved")

    ran: list[tuple[int, int]] = []
    async with start_node({queue: fails}):
        plain = await acme.enqueue(queue, {})
        assert (await acme.wait(plain.task_id, timeout=30)).status is TaskStatus.FAILED
    with pytest.raises(NoCheckpointError) as refused:
        await jobs.resume(services, alice, plain.task_id)
    assert refused.value.status == 409
    assert (await acme.status(plain.task_id)).status is TaskStatus.FAILED  # unchanged

    async with start_node({queue: steps_job(ran)}):
        record = await acme.enqueue(queue, {})
        assert (await acme.wait(record.task_id, timeout=30)).status is TaskStatus.FAILED
    # another tenant (an admin there) cannot see it, list it or resume it
    with pytest.raises(TaskNotFoundError):
        await jobs.resume(services, MALLORY, record.task_id)
    assert jobs.list_resumable(services, MALLORY).items == []
    assert jobs.list_checkpoints(services, MALLORY).total == 0
    assert (await acme.status(record.task_id)).status is TaskStatus.FAILED
    with pytest.raises(TaskNotFoundError):
        await jobs.resume(services, alice, "task_" + "0" * 26)


async def test_a_queued_job_is_not_resumed_twice(
    services: Services, alice: Principal, acme: Client, queue: str, start_node: NodeFactory
) -> None:
    ran: list[tuple[int, int]] = []
    async with start_node({queue: steps_job(ran)}):
        record = await acme.enqueue(queue, {})
        await acme.wait(record.task_id, timeout=30)
    await jobs.resume(services, alice, record.task_id)  # no node serves it now: it waits
    with pytest.raises(TaskNotFinalError):
        await jobs.resume(services, alice, record.task_id)

    async def waiting() -> bool:
        items = jobs.list_resumable(services, alice).items
        return [(i.status, i.resumes_by_itself) for i in items] == [("enqueued", True)]

    await eventually(waiting)
    assert jobs.list_resumable(services, alice, include_resuming=False).items == []


async def test_a_job_handed_back_by_a_shutdown_resumes_by_itself(
    services: Services, alice: Principal, acme: Client, queue: str, start_node: NodeFactory
) -> None:
    ran: list[tuple[int, int]] = []
    saved = asyncio.Event()

    async def slow(ctx: TaskContext) -> int:
        done = (ctx.checkpoint_state or {}).get("done", 0)
        while done < 6:
            done += 1
            ran.append((ctx.attempt, done))
            await ctx.checkpoint({"done": done})
            if done == 3 and ctx.attempt == 1:
                saved.set()
                await asyncio.sleep(60)  # the shutdown comes first
        return done

    async with start_node({queue: slow}, grace_s=0.2):
        record = await acme.enqueue(queue, {})
        await asyncio.wait_for(saved.wait(), 30)
    handed_back = await acme.status(record.task_id)
    assert handed_back.status is TaskStatus.ENQUEUED
    assert handed_back.attempts[-1].outcome is AttemptOutcome.INTERRUPTED

    async def listed() -> bool:
        items = jobs.list_resumable(services, alice).items
        return [(i.task_id, i.resumes_by_itself, i.seq) for i in items] == [
            (record.task_id, True, 3)
        ]

    await eventually(listed)
    async with start_node({queue: slow}):
        final = await acme.wait(record.task_id, timeout=30)
    assert final.status is TaskStatus.COMPLETED and final.result == 6
    assert ran == [(1, 1), (1, 2), (1, 3), (2, 4), (2, 5), (2, 6)]
