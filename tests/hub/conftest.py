"""Fixtures of the hub tests: the edge fixtures (an edge in this process serving every
surface over real HTTP, on the session's nats-server), callers acting in a brand, and a
task type of the tenant on the test's queue."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from prsm_tasks.edge.http.app import RunningEdge
from tests.edge.conftest import (  # noqa: F401 - fixtures used by these tests
    Answer,
    Caller,
    alice,
    as_user,
    edge,
    edge_config,
    session,
    token,
)

BRAND = 9
OTHER_BRAND = 12


class HubCaller(Caller):
    """A user acting in one brand: every request carries ``X-Brand-ID`` (None: not sent)."""

    def __init__(
        self, http: aiohttp.ClientSession, url: str, bearer: str | None, brand: str | None
    ) -> None:
        super().__init__(http, url, bearer)
        self.brand = brand

    def in_brand(self, brand: int | str | None) -> HubCaller:
        return HubCaller(self.session, self.url, self.bearer, None if brand is None else str(brand))

    async def call(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, **params: Any
    ) -> Answer:
        headers = {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}
        if self.brand is not None:
            headers["X-Brand-ID"] = self.brand
        async with self.session.request(
            method,
            self.url + path,
            json=body if raw is None else None,
            data=raw,
            params={k: str(v) for k, v in params.items()},
            headers=headers,
        ) as response:
            try:
                parsed: Any = await response.json(content_type=None)
            except ValueError:
                parsed = await response.text()
            return Answer(response.status, parsed, response.headers)

    async def patch(self, path: str, body: Any) -> Answer:
        return await self.call("PATCH", path, body)


@pytest.fixture
def tenant() -> str:
    """The test's own tenant: the session's server keeps what earlier tests wrote."""
    return f"humari-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def hub_user(
    session: aiohttp.ClientSession,  # noqa: F811 - the imported fixture
    edge: RunningEdge,  # noqa: F811
    tenant: str,
) -> Callable[..., HubCaller]:
    default_tenant = tenant

    def make(
        user: str = "martin",
        tenant: str = default_tenant,
        *,
        brands: tuple[int, ...] = (BRAND, OTHER_BRAND),
        brand: int | None = BRAND,
    ) -> HubCaller:
        bearer = token(user, tenant, brands=list(brands))
        return HubCaller(session, edge.url, bearer, None if brand is None else str(brand))

    return make


@pytest.fixture
def martin(hub_user: Callable[..., HubCaller]) -> HubCaller:
    return hub_user()


@pytest.fixture
def type_name() -> str:
    return f"seo_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def task_type(martin: HubCaller, queue: str, type_name: str) -> str:
    """A task type of the test's tenant whose tasks go to the test's queue."""
    return await register_type(martin, type_name, queue)


async def register_type(caller: Caller, name: str, queue: str) -> str:
    plain = Caller(caller.session, caller.url, caller.bearer)  # /api/task-types: no brand
    answer = await plain.post("/api/task-types", {"name": name, "metadata": {"queue_name": queue}})
    assert answer.status == 201, answer.body
    return name
