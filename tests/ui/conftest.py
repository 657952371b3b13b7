"""Fixtures of the dashboard tests: the edge tests' edge and tokens, and a cookie-keeping
HTTP session that signs in the way a browser does."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from prsm_tasks.client import Client
from prsm_tasks.topology import Topology
from tests.edge.conftest import (  # noqa: F401 - fixtures reused
    alice,
    as_user,
    edge,
    edge_config,
    session,
    token,
)

CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


class Browser:
    """A cookie jar and the edge's URL: ``await browser.sign_in(token)``, then pages."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.session = http
        self.url = url
        self.csrf: str | None = None

    async def get(self, path: str, **kw: object) -> tuple[int, str, object]:
        async with self.session.get(self.url + path, allow_redirects=False, **kw) as answer:
            return answer.status, await answer.text(), answer.headers

    async def post(
        self, path: str, data: dict[str, str], *, origin: str | None = "same", **kw: object
    ) -> tuple[int, str, object]:
        headers = {"Origin": self.url if origin == "same" else origin} if origin else {}
        async with self.session.post(
            self.url + path, data=data, headers=headers, allow_redirects=False, **kw
        ) as answer:
            return answer.status, await answer.text(), answer.headers

    async def sign_in(self, bearer: str) -> None:
        status, _, _ = await self.post("/ui/signin", {"token": bearer})
        assert status == 303, status
        status, body, _ = await self.get("/ui/")
        assert status == 200, body
        found = CSRF_RE.search(body)
        assert found is not None
        self.csrf = found.group(1)


@pytest.fixture
async def browser_session() -> AsyncIterator[aiohttp.ClientSession]:
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies of 127.0.0.1
    async with aiohttp.ClientSession(
        cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=60)
    ) as opened:
        yield opened


@pytest.fixture
def browser(browser_session: aiohttp.ClientSession, edge) -> Browser:  # noqa: F811
    return Browser(browser_session, edge.url)


class Owners:
    """Native clients enqueueing as one user of one tenant each: ``await owners("alice",
    "acme").enqueue(...)``."""

    def __init__(self, nats_url: str, topology: Topology, stack: contextlib.AsyncExitStack):
        self.nats_url = nats_url
        self.topology = topology
        self.stack = stack
        self.opened: dict[tuple[str, str], Client] = {}

    async def __call__(self, user: str = "alice", tenant: str = "acme") -> Client:
        if (user, tenant) not in self.opened:
            self.opened[user, tenant] = await self.stack.enter_async_context(
                Client(self.nats_url, topology=self.topology, user=user, tenant=tenant)
            )
        return self.opened[user, tenant]


@pytest.fixture
async def owners(nats_url: str, topology: Topology) -> AsyncIterator[Owners]:
    async with contextlib.AsyncExitStack() as stack:
        yield Owners(nats_url, topology, stack)
