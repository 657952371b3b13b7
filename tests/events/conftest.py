"""Edges over real HTTP for the event tests: ``async with start_edge() as edge``."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.auth import AuthConfig, mint_token
from prsm_tasks.edge.http.state import EDGE_NAME, EdgeConfig
from prsm_tasks.services.core import QueueRules
from prsm_tasks.store.opener import Connection
from prsm_tasks.topology import Topology

EdgeFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningEdge]]
TokenFactory = Callable[..., str]


@pytest.fixture
def jwt_secret() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def token(jwt_secret: str) -> TokenFactory:
    def make(user: str = "alice", tenant: str = "acme", roles: tuple[str, ...] = ()) -> str:
        return mint_token(jwt_secret, user=user, tenant=tenant, roles=roles)

    return make


@pytest.fixture
def start_edge(nats_url: str, jwt_secret: str, queue: str, topology: Topology) -> EdgeFactory:
    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[RunningEdge]:
        options: dict[str, Any] = {
            "connection": Connection(servers=[nats_url], name=EDGE_NAME, topology=topology),
            "auth": AuthConfig(secret=jwt_secret),
            "port": 0,
            "rules": QueueRules(queues=(queue,)),
            "rate_limit_per_s": 0.0,
        }
        options.update(overrides)
        async with open_edge(EdgeConfig(**options)) as edge:
            yield edge

    return start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session
