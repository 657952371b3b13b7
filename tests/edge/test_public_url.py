"""`stream_url` as the client reaches the edge: the configured public URL wins, forwarded
headers count only from trusted proxies, and otherwise the request's own scheme and host."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from prsm_tasks.config import Settings
from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.origin import PublicOrigin
from prsm_tasks.edge.http.state import EdgeConfig
from prsm_tasks.services.core import QueueRules
from tests.edge.conftest import spawned_edge, token

TLS_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "tasks.example.com"}


async def enqueued_stream_url(
    session: aiohttp.ClientSession, edge_url: str, queue: str, headers: dict[str, str]
) -> str:
    async with session.post(
        f"{edge_url}/enqueue",
        json={"queue_name": queue, "task_data": {"n": 1}},
        headers={"Authorization": f"Bearer {token()}", **headers},
    ) as response:
        body = await response.json()
        assert response.status == 200, body
        url = body["stream_url"]
        assert f"/tasks/{body['task_id']}/events?grant=" in url
        return str(url)


async def stream_url_via(
    edge_config: Callable[..., EdgeConfig],
    session: aiohttp.ClientSession,
    queue: str,
    origin: PublicOrigin,
    headers: dict[str, str],
) -> tuple[str, str]:
    """(the edge's own URL, the stream_url it answered to a request with ``headers``)."""
    config = edge_config(rules=QueueRules(queues=(queue,)), origin=origin)
    async with open_edge(config) as edge:
        return edge.url, await enqueued_stream_url(session, edge.url, queue, headers)


def trusting(*proxies: str, **options: Any) -> PublicOrigin:
    settings = Settings(trusted_proxies=",".join(proxies), **options)
    return PublicOrigin.from_settings(settings)


async def test_forwarded_headers_are_ignored_by_default(
    edge_config: Callable[..., EdgeConfig], session: aiohttp.ClientSession, queue: str
) -> None:
    own, url = await stream_url_via(edge_config, session, queue, PublicOrigin(), TLS_PROXY)
    assert url.startswith(f"{own}/tasks/")  # http://127.0.0.1:<port>: nobody is trusted


async def test_a_trusted_proxy_sets_scheme_and_host(
    edge_config: Callable[..., EdgeConfig], session: aiohttp.ClientSession, queue: str
) -> None:
    _, url = await stream_url_via(edge_config, session, queue, trusting("127.0.0.1"), TLS_PROXY)
    assert url.startswith("https://tasks.example.com/tasks/")

    only_proto = {"X-Forwarded-Proto": "https"}
    own, url = await stream_url_via(
        edge_config, session, queue, trusting("127.0.0.0/8"), only_proto
    )
    assert url.startswith(own.replace("http://", "https://") + "/tasks/")


async def test_a_trusted_proxy_may_use_the_forwarded_header(
    edge_config: Callable[..., EdgeConfig], session: aiohttp.ClientSession, queue: str
) -> None:
    headers = {"Forwarded": 'for="203.0.113.7:4711";proto=https;host=tasks.example.com'}
    _, url = await stream_url_via(edge_config, session, queue, trusting("127.0.0.1"), headers)
    assert url.startswith("https://tasks.example.com/tasks/")

    # two proxies: the outer one's entry counts only when the inner one is trusted too
    chain = {
        "Forwarded": "for=198.51.100.1;proto=https;host=outer.example, "
        "for=10.1.2.3;proto=http;host=inner.internal"
    }
    origin = trusting("127.0.0.1", "10.0.0.0/8")
    _, url = await stream_url_via(edge_config, session, queue, origin, chain)
    assert url.startswith("https://outer.example/tasks/")
    _, url = await stream_url_via(edge_config, session, queue, trusting("127.0.0.1"), chain)
    assert url.startswith("http://inner.internal/tasks/")


async def test_a_peer_that_is_not_a_trusted_proxy_is_not_believed(
    edge_config: Callable[..., EdgeConfig], session: aiohttp.ClientSession, queue: str
) -> None:
    own, url = await stream_url_via(edge_config, session, queue, trusting("10.0.0.0/8"), TLS_PROXY)
    assert url.startswith(f"{own}/tasks/")
    bad = {"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.example/x?"}
    own, url = await stream_url_via(edge_config, session, queue, trusting("127.0.0.1"), bad)
    assert url.startswith(f"{own}/tasks/")  # values that are no scheme or host are dropped


async def test_the_public_url_wins_over_forwarded_headers(
    edge_config: Callable[..., EdgeConfig], session: aiohttp.ClientSession, queue: str
) -> None:
    origin = trusting("127.0.0.1", public_url="https://public.example.com/prsm/")
    _, url = await stream_url_via(edge_config, session, queue, origin, TLS_PROXY)
    assert url.startswith("https://public.example.com/prsm/tasks/")


async def test_prsm_tasks_edge_reads_both_settings(
    nats_url: str, session: aiohttp.ClientSession, queue: str
) -> None:
    """`prsm-tasks edge` with PRSM_TRUSTED_PROXIES, then with PRSM_PUBLIC_URL as well."""
    trusted = {"PRSM_TRUSTED_PROXIES": "127.0.0.1", "PRSM_QUEUES": queue}
    with spawned_edge(nats_url, extra_env=trusted) as edge_url:
        url = await enqueued_stream_url(session, edge_url, queue, TLS_PROXY)
        assert url.startswith("https://tasks.example.com/tasks/")
    public = {**trusted, "PRSM_PUBLIC_URL": "https://public.example.com"}
    with spawned_edge(nats_url, extra_env=public) as edge_url:
        url = await enqueued_stream_url(session, edge_url, queue, TLS_PROXY)
        assert url.startswith("https://public.example.com/tasks/")
