"""The stream_url of enqueue works as it is, without credentials: its grant reads that one
task's event stream, as the task's owner, and nothing else (services/grants.py)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from prsm_tasks import Client, TaskContext, wire
from prsm_tasks.client.service import TaskService
from prsm_tasks.services.grants import GRANT_PARAM, StreamGrants, with_grant
from tests.conftest import NodeFactory
from tests.events.conftest import EdgeFactory, TokenFactory
from tests.events.test_sse import bearer, kinds, read_sse


async def halves(ctx: TaskContext) -> dict[str, bool]:
    await ctx.progress(0.5, "half way")
    return {"done": True}


async def enqueue(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], queue: str
) -> Any:
    body = {"queue_name": queue, "task_data": {}}
    async with http.post(f"{url}/enqueue", json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def answer(http: aiohttp.ClientSession, method: str, url: str) -> tuple[int, Any]:
    async with http.request(method, url) as response:
        return response.status, await response.json(content_type=None)


def grant_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)[GRANT_PARAM][0]


async def test_the_stream_url_streams_its_task_to_the_end_without_a_header(
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    queue: str,
) -> None:
    alice = bearer(token("alice"))
    async with start_node({queue: halves}, queues=[queue]), start_edge() as edge:
        task = await enqueue(http, edge.url, alice, queue)
        status, events = await read_sse(http, task["stream_url"])  # no Authorization header
        assert status == 200
        assert kinds(events)[0] == "task_enqueued" and kinds(events)[-1] == "task_completed"
        assert "progress_update" in kinds(events)
        assert {event["task_id"] for _, event in events} == {task["task_id"]}

        # the same grant on the task's /api/ stream, named by its id
        api_stream = with_grant(
            f"{edge.url}/api/tasks/{task['task_id']}/stream", grant_of(task["stream_url"])
        )
        status, again = await read_sse(http, api_stream)
        assert status == 200 and again == events
        # and named by its number (the task list's id)
        async with http.get(f"{edge.url}/api/tasks/{task['task_id']}", headers=alice) as read:
            number = (await read.json())["id"]
        by_number = api_stream.replace(task["task_id"], str(number))
        assert (await read_sse(http, by_number)) == (200, events)
        # and the bearer token still works as before, in the header or the query
        plain = task["stream_url"].partition("?")[0]
        assert (await read_sse(http, plain, headers=alice)) == (200, events)
        assert (await read_sse(http, f"{plain}?access_token={token('alice')}")) == (200, events)


async def test_a_grant_reads_nothing_else(
    start_edge: EdgeFactory, token: TokenFactory, http: aiohttp.ClientSession, queue: str
) -> None:
    alice = bearer(token("alice"))
    async with start_edge() as edge:
        first = await enqueue(http, edge.url, alice, queue)
        second = await enqueue(http, edge.url, alice, queue)
        grant = grant_of(first["stream_url"])
        first_id, second_id = first["task_id"], second["task_id"]
        refused = [
            ("GET", f"/tasks/{second_id}/events"),  # another task of the same owner
            ("GET", f"/api/tasks/{second_id}/stream"),
            ("GET", f"/status/{first_id}"),  # its own task, on any other route
            ("GET", f"/result/{first_id}"),
            ("GET", f"/api/tasks/{first_id}"),
            ("GET", f"/api/tasks/{first_id}/status"),
            ("POST", f"/api/tasks/{first_id}/cancel"),
            ("DELETE", f"/cancel/{first_id}"),
            ("GET", "/events"),
        ]
        for method, path in refused:
            status, body = await answer(http, method, with_grant(edge.url + path, grant))
            assert status == 401, (path, body)
            assert body["error"] == "unauthorized" and body["code"] == 401, (path, body)
        # nothing was cancelled by the refused calls
        async with http.get(f"{edge.url}/status/{first_id}", headers=alice) as response:
            assert (await response.json())["status"] == "enqueued"


async def test_an_expired_tampered_or_foreign_grant_is_refused(
    start_edge: EdgeFactory,
    token: TokenFactory,
    http: aiohttp.ClientSession,
    client: Client,
    queue: str,
) -> None:
    alice = bearer(token("alice"))
    async with start_edge() as edge:
        task = await enqueue(http, edge.url, alice, queue)
        task_id, url = task["task_id"], task["stream_url"].partition("?")[0]
        # the deployment's key, as any edge reads it from the PRSM_KEYS bucket
        key = await client.shared_key(wire.STREAM_GRANT_KEY)
        an_hour_ago = StreamGrants(key, clock=lambda: time.time() - 3600)
        now = StreamGrants(key)
        good = now.sign(task_id, "acme", "alice", 60.0)
        assert (await answer_stream_status(http, with_grant(url, good))) == 200
        mac_flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
        later_expiry = good.replace(".", ".9", 1)  # the expiry changed, the MAC kept
        for grant in (
            an_hour_ago.sign(task_id, "acme", "alice", 60.0),  # expired an hour ago
            mac_flipped,
            later_expiry,
            now.sign(task_id, "other", "alice", 60.0),  # not the task's owner
            now.sign(task_id, "acme", "bob", 60.0),
            StreamGrants(b"k" * 32).sign(task_id, "acme", "alice", 60.0),  # another key
            "",
            "x" * 5000,
        ):
            status, body = await answer(http, "GET", with_grant(url, grant))
            assert status == 401 and body["error"] == "unauthorized", (grant, body)
        # without credentials nothing tells which tasks exist: 401, never 404
        for path in ("/api/tasks/987654321/stream", f"/api/tasks/{task_id}x/stream"):
            assert (await answer(http, "GET", edge.url + path))[0] == 401, path
            assert (await answer(http, "GET", with_grant(edge.url + path, good)))[0] == 401, path
        # a grant for a task that is not there tells nothing either: 401, not 404
        missing = "task_" + "0" * 26
        grant = now.sign(missing, "acme", "alice", 60.0)
        status, _ = await answer(
            http, "GET", with_grant(f"{edge.url}/tasks/{missing}/events", grant)
        )
        assert status == 401


async def answer_stream_status(http: aiohttp.ClientSession, url: str) -> int:
    """The status a stream opens with (the task is pending: the stream stays open)."""
    async with http.get(url) as response:
        return response.status


async def test_the_task_service_stream_url_opens_on_an_edge(
    start_node: NodeFactory,
    start_edge: EdgeFactory,
    http: aiohttp.ClientSession,
    client: Client,
    queue: str,
) -> None:
    async with start_node({queue: halves}, queues=[queue]), start_edge() as edge:
        service = TaskService(client, stream_base=edge.url)
        service.register("halves", queue=queue)
        started = await service.start_task("halves")
        status, events = await read_sse(http, started.stream_url)  # no Authorization header
        assert status == 200 and kinds(events)[-1] == "task_completed"
        assert {event["task_id"] for _, event in events} == {started.task_id}
