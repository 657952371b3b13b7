"""Metrics per attempt, measured on the node and stored with the attempt (actors/metering.py)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from prsm_tasks import Client, TaskContext, wire
from prsm_tasks.actors.metering import MeteringOptions, RateCard, Rates
from prsm_tasks.errors import ValidationError
from prsm_tasks.handlers import HandlerRegistry, Retry
from prsm_tasks.models import AttemptOutcome, TaskStatus
from tests.conftest import NodeFactory

CARD = RateCard(
    default=Rates(per_run_usd=0.001, per_cpu_second_usd=0.01),
    task_types={"pricey": Rates(per_run_usd=1.0)},
)


def burn_cpu(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


async def test_sync_and_async_attempts_carry_their_metrics(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    registry = HandlerRegistry()

    def sync_work(ctx: TaskContext) -> str:
        burn_cpu(0.05)
        return "ok"

    async def async_work(ctx: TaskContext) -> str:
        burn_cpu(0.03)
        await asyncio.sleep(0.2)  # waiting is wall time, not CPU time
        return "ok"

    registry.register(sync_work, queue=queue, task_type="sync_work")
    registry.register(async_work, queue=queue, task_type="async_work")
    async with start_node(registry, metering=MeteringOptions(rate_card=CARD)):
        sync_task = await client.enqueue(queue, {}, task_type="sync_work")
        async_task = await client.enqueue(queue, {}, task_type="async_work")
        sync_done = await client.wait(sync_task.task_id, timeout=30)
        async_done = await client.wait(async_task.task_id, timeout=30)
    for done in (sync_done, async_done):
        assert done.status is TaskStatus.COMPLETED
        metrics = done.attempts[-1].metrics
        assert metrics is not None
        assert metrics.cpu_time_ms is not None and metrics.cpu_time_ms >= 25
        assert metrics.memory_method == "rss_delta" and metrics.memory_approximate
        assert metrics.memory_usage_mb is not None and metrics.memory_usage_mb >= 0
        assert metrics.cost_usd == pytest.approx(
            0.001 + metrics.cpu_time_ms / 1000 * 0.01, rel=1e-3
        )
    async_metrics = async_done.attempts[-1].metrics
    assert async_metrics is not None
    assert async_metrics.execution_time_ms >= 200
    assert async_metrics.cpu_time_ms is not None and async_metrics.cpu_time_ms < 150


async def test_a_traced_task_type_measures_its_allocations(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    async def allocates(ctx: TaskContext) -> int:
        block = bytearray(8 * 1024 * 1024)
        return len(block)

    registry = HandlerRegistry()
    registry.register(allocates, queue=queue, task_type="pricey")
    options = MeteringOptions(rate_card=CARD, tracemalloc_task_types=frozenset({"pricey"}))
    async with start_node(registry, metering=options):
        task = await client.enqueue(queue, {}, task_type="pricey")
        done = await client.wait(task.task_id, timeout=30)
    metrics = done.attempts[-1].metrics
    assert metrics is not None and metrics.memory_method == "tracemalloc"
    assert metrics.memory_usage_mb is not None and metrics.memory_usage_mb >= 7.9
    assert metrics.cost_usd == pytest.approx(1.0)  # the task type's own rates


async def test_every_attempt_keeps_its_own_metrics(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    async def fails_once(ctx: TaskContext) -> int:
        if ctx.attempt == 1:
            raise Retry("again", delay=0.01)
        return ctx.attempt

    async with start_node({queue: fails_once}):
        task = await client.enqueue(queue, {})
        done = await client.wait(task.task_id, timeout=30)
    assert [a.outcome for a in done.attempts] == [AttemptOutcome.FAILED, AttemptOutcome.COMPLETED]
    assert all(a.metrics is not None for a in done.attempts)


async def test_metrics_off_stores_records_as_before(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    async def noop(ctx: TaskContext) -> None:
        return None

    async with start_node({queue: noop}, metering=MeteringOptions(enabled=False)):
        task = await client.enqueue(queue, {})
        done = await client.wait(task.task_id, timeout=30)
    assert done.attempts[-1].metrics is None
    stored, _ = await client._store.get_encoded(task.task_id)  # the stored bytes themselves
    assert all("metrics" not in attempt for attempt in wire.unpack(stored)["attempts"])


def test_a_rate_card_file_prices_task_types(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text(json.dumps({"task_types": {"gpu": {"per_gb_second_usd": 2.0}}}))
    card = RateCard.load(Rates(per_run_usd=0.5), path)
    assert card.cost_usd("gpu", wall_s=2.0, cpu_s=1.0, memory_mb=512) == pytest.approx(2.0)
    assert card.cost_usd("other", wall_s=2.0, cpu_s=1.0, memory_mb=512) == pytest.approx(0.5)
    path.write_text(json.dumps({"task_types": {"gpu": {"per_hour": 1}}}))
    with pytest.raises(ValidationError, match="rate card"):
        RateCard.load(Rates(), path)
