"""What handlers log through ctx.logger: kept per attempt in PRSM_LOGS, read from any edge at
/tasks/{id}/logs with /status's access rules, live as task_log over SSE, capped per attempt."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import nats
from pydantic import BaseModel

from prsm_tasks import BaseTask, Client, ProgressHandle, TaskContext, wire
from prsm_tasks.client.sse import read_messages
from prsm_tasks.config import Settings
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.services.access import ADMIN_ROLE
from prsm_tasks.topology import Topology, ensure_topology
from tests.conftest import NodeFactory, eventually
from tests.events.conftest import EdgeFactory, TokenFactory


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def flaky_sync(ctx: TaskContext, name: str) -> str:
    """A sync handler (it runs in the node's thread pool) that fails its first attempt."""
    ctx.logger.info("hello %s", name, step="start")
    if ctx.attempt == 1:
        ctx.logger.warning("about to fail")
        raise RuntimeError("first attempt fails")
    ctx.logger.error("second try", ok=True)
    return name


async def chatty(ctx: TaskContext, lines: int) -> int:
    for number in range(lines):
        ctx.logger.info(f"line {number}")
    return lines


class Report(BaseModel):
    pages: int


class MakeReport(BaseTask):
    def execute(self, progress_handle: ProgressHandle, *, pages: int) -> Report:
        self.logger.info("Starting report generation")
        self.logger.debug("x" * 10_000)  # over the line limit: cut
        return Report(pages=pages)


async def enqueue(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], queue: str, data: dict
) -> str:
    async with http.post(
        f"{url}/enqueue",
        json={"queue_name": queue, "task_data": data, "retry_count": 2},
        headers=headers,
    ) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["task_id"]


async def get_logs(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], query: str = ""
) -> tuple[int, Any]:
    async with http.get(f"{url}{query}", headers=headers) as response:
        return response.status, await response.json()


async def test_lines_kept_per_attempt_across_a_retry(
    client: Client,
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    alice = bearer(token("alice"))
    async with start_node({queue: flaky_sync}, queues=[queue]), start_edge() as edge:
        task_id = await enqueue(http, edge.url, alice, queue, {"name": "ada"})
        await client.wait(task_id, timeout=60)
        logs_url = f"{edge.url}/tasks/{task_id}/logs"

        async def all_lines_stored() -> bool:
            status, body = await get_logs(http, logs_url, alice)
            return status == 200 and len(body["logs"]) == 4

        await eventually(all_lines_stored)
        status, body = await get_logs(http, logs_url, alice)
        assert body["task_id"] == task_id
        lines = [(line["attempt"], line["level"], line["message"]) for line in body["logs"]]
        assert lines == [
            (1, "INFO", "hello ada step='start'"),
            (1, "WARNING", "about to fail"),
            (2, "INFO", "hello ada step='start'"),
            (2, "ERROR", "second try ok=True"),
        ]
        assert all(line["timestamp"].endswith("Z") for line in body["logs"])
        status, second = await get_logs(http, logs_url, alice, "?attempt=2")
        assert status == 200 and [line["attempt"] for line in second["logs"]] == [2, 2]
        status, page = await get_logs(http, logs_url, alice, "?limit=1&offset=1")
        assert [line["message"] for line in page["logs"]] == ["about to fail"]
        for bad in ("?limit=0", "?limit=1001", "?attempt=0", "?attempt=x", "?offset=-1"):
            status, error = await get_logs(http, logs_url, alice, bad)
            assert status == 400, bad
            assert error["field"] in ("limit", "attempt", "offset")
    # the lines are events too, before each attempt's outcome
    story = [e async for e in client.events(task_id=task_id)]
    kinds = [(e.event_type, e.attempt) for e in story]
    assert kinds.index(("task_log", 1)) < kinds.index(("task_retrying", 1))
    assert kinds.index(("task_log", 2)) < kinds.index(("task_completed", 2))
    assert story[-1].event_type == "task_completed"
    logged = [
        line["message"] for e in story if e.event_type == "task_log" for line in e.data["lines"]
    ]
    assert logged == [message for _, _, message in lines]


async def test_a_tight_loop_is_capped_per_attempt(
    client: Client, start_node: NodeFactory, queue: str, nats_url: str
) -> None:
    async with start_node({queue: chatty}, queues=[queue], logs_max_lines=50):
        task = await client.enqueue(queue, {"lines": 100_000})
        await client.wait(task.task_id, timeout=120)
    story = [e async for e in client.events(task_id=task.task_id)]
    logged = [line for e in story if e.event_type == "task_log" for line in e.data["lines"]]
    assert len(logged) == 51
    assert [line["message"] for line in logged[:50]] == [f"line {n}" for n in range(50)]
    assert logged[-1]["level"] == "WARNING"
    assert logged[-1]["message"].startswith("99950 lines dropped")
    assert sum(1 for e in story if e.event_type == "task_log") < 20  # coalesced into batches
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info(
            wire.LOGS_STREAM, subjects_filter=f"{wire.LOGS_PREFIX}.{queue}.>"
        )
        assert 0 < sum((info.state.subjects or {}).values()) < 20
    finally:
        await nc.close()


async def test_access_is_as_for_status_and_base_task_logs(
    client: Client,
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    alice = bearer(token("alice"))
    async with start_node(_registry(queue), queues=[queue]), start_edge() as edge:
        task_id = await enqueue(http, edge.url, alice, queue, {"pages": 3})
        await client.wait(task_id, timeout=60)
        logs_url = f"{edge.url}/tasks/{task_id}/logs"

        async def stored() -> bool:
            status, body = await get_logs(http, logs_url, alice)
            return status == 200 and len(body["logs"]) == 2

        await eventually(stored)
        _, body = await get_logs(http, logs_url, alice)
        first, second = body["logs"]
        assert (first["level"], first["message"]) == ("INFO", "Starting report generation")
        assert second["level"] == "DEBUG" and second["message"].endswith("… [cut]")
        assert len(second["message"].encode()) <= 4096
        callers = {
            "bob": bearer(token("bob")),
            "admin": bearer(token("carol", roles=(ADMIN_ROLE,))),
            "other tenant": bearer(token("alice", tenant="other")),
            "other tenant admin": bearer(token("dave", tenant="other", roles=(ADMIN_ROLE,))),
        }
        for who, headers in callers.items():
            logs_status, answer = await get_logs(http, logs_url, headers)
            status_status, _ = await get_logs(http, f"{edge.url}/status/{task_id}", headers)
            assert logs_status == status_status, who
            if logs_status != 200:
                assert "logs" not in answer and answer["error"], who
        assert (await get_logs(http, logs_url, callers["other tenant"]))[0] == 404
        assert (await get_logs(http, logs_url, callers["admin"]))[0] == 200
        missing = f"{edge.url}/tasks/task_{'0' * 26}/logs"
        assert (await get_logs(http, missing, alice))[0] == 404


def _registry(queue: str) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register(MakeReport, queue=queue)
    return registry


async def slow_talker(ctx: TaskContext) -> str:
    for number in range(3):
        ctx.logger.info("working", step=number)
        await asyncio.sleep(0.3)
    return "done"


async def test_sse_sends_task_log_messages(
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    alice = bearer(token("alice"))
    async with start_node({queue: slow_talker}, queues=[queue]), start_edge() as edge:
        task_id = await enqueue(http, edge.url, alice, queue, {})
        names: list[str] = []
        lines: list[str] = []
        async with (
            asyncio.timeout(60),
            http.get(f"{edge.url}/tasks/{task_id}/events", headers=alice) as response,
        ):
            assert response.status == 200
            async for message in read_messages(response):
                names.append(message.event)
                event = json.loads(message.data)
                if message.event == "task_log":
                    assert event["event_type"] == "task_log" and event["attempt"] == 1
                    lines += [line["message"] for line in event["data"]["lines"]]
                else:  # the seed's clients listen to task_event and see only its types
                    assert event["event_type"] != "task_log"
    assert "task_log" in names and names[-1] == "task_event"
    assert lines == [f"working step={n}" for n in range(3)]


async def test_retention_settings_are_applied_to_the_stream(own_server: EmbeddedNats) -> None:
    nc = await nats.connect(own_server.url)
    try:
        js = nc.jetstream()
        await ensure_topology(js, Topology(logs_max_age_s=3600.0, logs_max_bytes=8_388_608))
        config = (await js.stream_info(wire.LOGS_STREAM)).config
        assert (config.max_age, config.max_bytes) == (3600.0, 8_388_608)
        assert config.subjects == [f"{wire.LOGS_PREFIX}.>"] and config.allow_direct
        # a process with the defaults changes nothing; one that set them explicitly does
        await ensure_topology(js, Topology())
        config = (await js.stream_info(wire.LOGS_STREAM)).config
        assert (config.max_age, config.max_bytes) == (3600.0, 8_388_608)
        explicit = Topology(
            logs_max_age_s=7200.0, logs_max_bytes=16_777_216, logs_limits_explicit=True
        )
        await ensure_topology(js, explicit)
        config = (await js.stream_info(wire.LOGS_STREAM)).config
        assert (config.max_age, config.max_bytes) == (7200.0, 16_777_216)
    finally:
        await nc.close()


def test_retention_comes_from_the_settings() -> None:
    settings = Settings(logs_max_age_seconds=600, logs_max_bytes=2_097_152)
    topology = Topology.from_settings(settings)
    assert (topology.logs_max_age_s, topology.logs_max_bytes) == (600.0, 2_097_152)
    assert topology.logs_limits_explicit
    assert not Topology.from_settings(Settings()).logs_limits_explicit


async def test_deleting_a_finished_task_removes_its_lines(
    client: Client,
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
    nats_url: str,
) -> None:
    alice = bearer(token("alice"))
    nc = await nats.connect(nats_url)
    js = nc.jetstream()

    async def stored_chunks() -> int:
        subjects = f"{wire.LOGS_PREFIX}.{queue}.>"
        info = await js.stream_info(wire.LOGS_STREAM, subjects_filter=subjects)
        return sum((info.state.subjects or {}).values())

    try:
        async with start_node({queue: chatty}, queues=[queue]), start_edge() as edge:
            task_id = await enqueue(http, edge.url, alice, queue, {"lines": 3})
            await client.wait(task_id, timeout=60)

            async def stored() -> bool:
                return await stored_chunks() > 0

            await eventually(stored)
            async with http.delete(f"{edge.url}/api/tasks/{task_id}", headers=alice) as response:
                assert response.status == 200, await response.text()
        assert await stored_chunks() == 0
    finally:
        await nc.close()
