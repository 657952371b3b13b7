"""The monitoring services (services/hub_metrics.py) over the TaskView of a real edge's
services and real nodes: metrics list, dashboard, workers overview."""

from __future__ import annotations

import time

import pydantic
import pytest

from prsm_tasks import Client, TaskContext
from prsm_tasks.handlers import Fail, HandlerRegistry
from prsm_tasks.services.core import Services
from prsm_tasks.services.hub_metrics import (
    MetricsQuery,
    dashboard,
    list_metrics,
    percentile,
    workers_overview,
)
from tests.conftest import NodeFactory, eventually


def registry_for(queue: str) -> HandlerRegistry:
    async def analyse(ctx: TaskContext, **data: object) -> str:
        return "done"

    async def broken(ctx: TaskContext, **data: object) -> None:
        raise Fail("broken on purpose")

    registry = HandlerRegistry()
    registry.register(analyse, queue=queue, task_type="seo_keyword_analysis")
    registry.register(broken, queue=queue, task_type="daily_report")
    return registry


async def run_some(client: Client, queue: str, ok: int, bad: int) -> list[str]:
    ids = []
    for n in range(ok):
        record = await client.enqueue(
            queue, {"keyword_ids": [n], "high_memory": True}, task_type="seo_keyword_analysis"
        )
        ids.append(record.task_id)
    for _ in range(bad):
        record = await client.enqueue(queue, {"day": 1}, task_type="daily_report", max_retries=0)
        ids.append(record.task_id)
    for task_id in ids:
        await client.wait(task_id, timeout=30)
    return ids


async def seen_final(services: Services, ids: list[str]) -> bool:
    entries = services.view.entries
    return all(t in entries and entries[t].attempt_rows for t in ids)


async def test_metrics_list_filters_search_and_pages(
    tenant: str,
    services: Services,
    acme: Client,
    globex: Client,
    queue: str,
    start_node: NodeFactory,
) -> None:
    async with start_node(registry_for(queue)):
        ids = await run_some(acme, queue, ok=3, bad=1)
        other = await run_some(globex, queue, ok=1, bad=0)
        await eventually(lambda: seen_final(services, ids + other))
    view = services.view
    everything = list_metrics(view, tenant=tenant, query=MetricsQuery())
    assert everything["count"] == 4  # globex's attempt is not acme's
    assert {row["task_id"] for row in everything["results"]} == set(ids)
    row = everything["results"][0]
    assert row["metrics"]["measured"] and row["metrics"]["execution_time_ms"] >= 0
    assert row["metrics"]["memory_method"] == "rss_delta"
    failed = list_metrics(view, tenant=tenant, query=MetricsQuery(status="failed"))
    assert [r["task_type"] for r in failed["results"]] == ["daily_report"]
    by_key = list_metrics(view, tenant=tenant, query=MetricsQuery(search="HIGH_MEM"))
    assert by_key["count"] == 3
    by_type = list_metrics(view, tenant=tenant, query=MetricsQuery(search="keyword_analysis"))
    assert by_type["count"] == 3
    page = list_metrics(view, tenant=tenant, query=MetricsQuery(limit=2, offset=2))
    assert page["count"] == 4 and len(page["results"]) == 2
    later = list_metrics(view, tenant=tenant, query=MetricsQuery(ended_after=time.time() + 60))
    assert later["count"] == 0
    slow = list_metrics(view, tenant=tenant, query=MetricsQuery(execution_time_ms_gte=60_000))
    assert slow["count"] == 0


def test_bad_filters_name_their_field() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        MetricsQuery(limit=1000)
    assert caught.value.errors()[0]["loc"] == ("limit",)
    with pytest.raises(pydantic.ValidationError):
        MetricsQuery(status="exploded")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        MetricsQuery(search="x" * 500)


async def test_dashboard_groups_by_task_type_and_queue(
    tenant: str, services: Services, acme: Client, queue: str, start_node: NodeFactory
) -> None:
    async with start_node(registry_for(queue)):
        ids = await run_some(acme, queue, ok=4, bad=2)
        await eventually(lambda: seen_final(services, ids))
    board = dashboard(services.view, tenant=tenant, window_s=3600, now=time.time())
    groups = {(g["task_type"], g["queue_name"]): g for g in board["groups"]}
    analysis = groups[("seo_keyword_analysis", queue)]
    assert analysis["count"] == 4 and analysis["success_rate"] == 1.0
    assert analysis["execution_time_ms"]["p50"] is not None
    assert analysis["cost_usd"]["total"] == 0.0  # no rate card: priced at 0
    report = groups[("daily_report", queue)]
    assert report["count"] == 2 and report["failed"] == 2 and report["success_rate"] == 0.0
    assert board["totals"]["count"] >= 6
    empty = dashboard(services.view, tenant="nobody", window_s=60, now=time.time())
    assert empty["groups"] == [] and empty["totals"]["count"] == 0


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


async def test_workers_overview_counts_runs_and_shows_silent_nodes(
    tenant: str, services: Services, acme: Client, queue: str, start_node: NodeFactory
) -> None:
    async with start_node(registry_for(queue), advert_interval_s=0.2) as node:
        ids = await run_some(acme, queue, ok=2, bad=1)
        await eventually(lambda: seen_final(services, ids))

        async def listed() -> bool:
            overview = workers_overview(
                services.view, services.nodes, tenant=tenant, window_s=600, now=time.time()
            )
            rows = {w["node_id"]: w for w in overview["workers"]}
            row = rows.get(node.node_id)
            return row is not None and row["tasks_run"] == 3 and not row["silent"]

        await eventually(listed)
        overview = workers_overview(
            services.view, services.nodes, tenant=tenant, window_s=600, now=time.time()
        )
        row = next(w for w in overview["workers"] if w["node_id"] == node.node_id)
        assert row["tasks_failed"] == 1 and queue in row["queues"]
        assert row["capacity"] == node.capacity and row["uptime_seconds"] >= 0
        # seen from the future, its advert is old: the node has gone silent
        later = workers_overview(
            services.view, services.nodes, tenant=tenant, window_s=600, now=time.time() + 120
        )
    assert node.node_id in later["silent_nodes"]
    other = workers_overview(
        services.view, services.nodes, tenant="globex", window_s=600, now=time.time()
    )
    assert all(w["tasks_run"] == 0 for w in other["workers"])
