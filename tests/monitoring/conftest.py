"""Fixtures of the monitoring tests: the services of an edge, opened in this process on the
session's server (no HTTP: the hub surface wraps these services), and tenant clients."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from prsm_tasks import Client
from prsm_tasks.services.core import QueueRules, Services, open_services
from prsm_tasks.store.opener import Connection, open_stores
from prsm_tasks.topology import Topology

ServicesFactory = Callable[..., contextlib.AbstractAsyncContextManager[Services]]


@pytest.fixture
def open_edge_services(nats_url: str, topology: Topology, queue: str) -> ServicesFactory:
    """``async with open_edge_services() as services:`` the services one edge holds."""

    @contextlib.asynccontextmanager
    async def open_them(name: str = "test-edge", **rules: Any) -> AsyncIterator[Services]:
        connection = Connection(servers=[nats_url], name=name, topology=topology)
        rules.setdefault("queues", (queue,))
        async with (
            open_stores(connection) as stores,
            open_services(stores, QueueRules(**rules)) as services,
        ):
            yield services

    return open_them


@pytest.fixture
async def services(open_edge_services: ServicesFactory) -> AsyncIterator[Services]:
    async with open_edge_services() as opened:
        yield opened


@pytest.fixture
def tenant() -> str:
    """Acme's scope, fresh per test: rules and alerts of earlier tests stay out of sight."""
    return f"acme-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def acme(nats_url: str, topology: Topology, tenant: str) -> AsyncIterator[Client]:
    async with Client(nats_url, topology=topology, user="alice", tenant=tenant) as connected:
        yield connected


@pytest.fixture
async def globex(nats_url: str, topology: Topology) -> AsyncIterator[Client]:
    async with Client(nats_url, topology=topology, user="bob", tenant="globex") as connected:
        yield connected
