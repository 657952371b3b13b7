"""`/metrics` of an edge and of a node (`--metrics-port`), parsed as Prometheus parses it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from prsm_tasks import Client, TaskContext
from prsm_tasks.edge.http.app import RunningEdge
from tests.conftest import NodeFactory, eventually
from tests.edge.conftest import Caller, token
from tests.edge.up_handlers import OWN_QUEUE

HANDLERS = "tests.edge.up_handlers"  # serves OWN_QUEUE
GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "prsm-tasks.json"


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(found: Iterable[Sample], name: str, **labels: str) -> float:
    return sum(
        sample.value
        for sample in found
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def scrape(session: aiohttp.ClientSession, url: str, bearer: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with session.get(url + "/metrics", headers=headers) as response:
        return response.status, await response.text()


async def test_an_edge_counts_requests_by_route_and_tasks_by_queue(
    edge: RunningEdge,
    alice: Caller,
    session: aiohttp.ClientSession,
    queue: str,
    start_node: NodeFactory,
) -> None:
    reader = token("prometheus", "ops", roles=("metrics",))
    blocked = asyncio.Event()

    async def waits(ctx: TaskContext) -> str:
        await blocked.wait()
        return "done"

    created = [
        (await alice.post("/enqueue", {"queue_name": queue, "task_data": {}})) for _ in range(3)
    ]
    assert {answer.status for answer in created} == {200}
    for answer in created:
        await alice.get(f"/status/{answer.body['task_id']}")
    await alice.get("/status/task_doesnotexist0000000000000")

    status, text = await scrape(session, edge.url, reader)
    assert status == 200
    found = samples(text)
    assert value(found, "prsm_tasks_enqueued_total", queue=queue, band="normal") >= 3
    assert value(found, "prsm_queue_depth", queue=queue, band="normal") == 3
    assert value(found, "prsm_queue_oldest_age_seconds", queue=queue, band="normal") >= 0
    by_route = {
        (sample.labels["route"], sample.labels["status"])
        for sample in found
        if sample.name == "prsm_http_requests_total"
    }
    assert ("/enqueue", "200") in by_route
    assert ("/status/{task_id}", "200") in by_route
    assert ("/status/{task_id}", "404") in by_route
    # no label carries a task id: routes are patterns
    task_id = re.compile(r"task_[0-9a-z]{26}")
    assert not any(task_id.search(str(sample.labels)) for sample in found)
    assert value(found, "prsm_http_request_duration_seconds_count", route="/enqueue") >= 3

    async with start_node({queue: waits}, capacity=4):
        await eventually(lambda: _depth_is(session, edge.url, reader, queue, 0))
        blocked.set()
        for answer in created:
            await eventually(lambda task_id=answer.body["task_id"]: _final(alice, task_id))
    _, text = await scrape(session, edge.url, reader)
    found = samples(text)
    # the node ran in this process: its counters are this process's too
    assert value(found, "prsm_tasks_started_total", queue=queue) >= 3
    assert value(found, "prsm_tasks_finished_total", queue=queue, outcome="completed") >= 3
    assert value(found, "prsm_task_duration_seconds_count", queue=queue) >= 3


async def test_metrics_take_the_metrics_role(
    edge: RunningEdge, session: aiohttp.ClientSession
) -> None:
    assert (await scrape(session, edge.url, None))[0] == 401
    assert (await scrape(session, edge.url, token("alice", "acme", roles=("admin",))))[0] == 403


async def _depth_is(
    session: aiohttp.ClientSession, url: str, bearer: str, queue: str, depth: int
) -> bool:
    _, text = await scrape(session, url, bearer)
    return value(samples(text), "prsm_queue_depth", queue=queue) == depth


async def _final(caller: Caller, task_id: str) -> bool:
    answer = await caller.get(f"/status/{task_id}")
    return answer.body.get("status") == "completed"


async def test_a_node_serves_its_metrics_and_grafana_queries_only_existing_ones(
    nats_url: str, edge: RunningEdge, client: Client, session: aiohttp.ClientSession
) -> None:
    """`prsm-tasks node --metrics-port 0` prints where; its counters move as it runs tasks.
    Every query of deploy/grafana's dashboard names a series an edge or a node exposes."""
    queue = OWN_QUEUE
    process = spawn_node(nats_url)
    try:
        node_url = (await asyncio.to_thread(read_metrics_url, process)).removesuffix("/metrics")
        found = samples((await scrape(session, node_url, None))[1])
        assert value(found, "prsm_node_slots") == 8
        before = value(found, "prsm_tasks_finished_total", queue=queue)
        for index in range(5):
            await client.enqueue(queue, {"n": index})

        async def ran_five() -> bool:
            _, text = await scrape(session, node_url, None)
            return value(samples(text), "prsm_tasks_finished_total", queue=queue) >= before + 5

        await eventually(ran_five, within_s=60)
        reader = token("prometheus", "ops", roles=("metrics",))
        exposed = series_names((await scrape(session, node_url, None))[1])
        exposed |= series_names((await scrape(session, edge.url, reader))[1])
        queried = grafana_metric_names()
        assert len(queried) >= 10
        assert queried <= exposed, sorted(queried - exposed)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def spawn_node(nats_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PRSM_LOG_LEVEL": "warning"}
    command = [
        sys.executable, "-m", "prsm_tasks.cli", "node", "--servers", nats_url,
        "--handlers", HANDLERS, "--metrics-port", "0",
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )


def read_metrics_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        found = re.search(r"metrics:\s+(http://\S+)", line)
        if found:
            return found.group(1)
        if not line and process.poll() is not None:
            break
    raise AssertionError("no metrics URL printed:\n" + "".join(seen))


SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def series_names(text: str) -> set[str]:
    """The series a scrape offers, by name, also of families with no sample yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SERIES_SUFFIXES.get(family.type, ()))
    return names


def grafana_metric_names() -> set[str]:
    dashboard = json.loads(GRAFANA.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += [
        variable["definition"]
        for variable in dashboard["templating"]["list"]
        if "definition" in variable
    ]
    return {name for expr in exprs for name in re.findall(r"\bprsm_[a-z_]+", expr)}
