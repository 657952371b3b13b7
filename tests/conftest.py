"""Shared fixtures: one real nats-server per test session, fresh queue names per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prsm_tasks import Client, Node
from prsm_tasks.embedded import EmbeddedNats
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.topology import Topology

# the partitions a test marked ``partitioned`` runs with as well as with one: its own
# nats-server for the session (a server's deployment has one number of partitions)
PARTITIONED = 3


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (
        metafunc.definition.get_closest_marker("partitioned") is not None
        and "partitions" in metafunc.fixturenames
    ):
        metafunc.parametrize("partitions", [1, PARTITIONED], ids=["p1", f"p{PARTITIONED}"])


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within_s: float = 30.0, interval_s: float = 0.05
) -> None:
    """Poll ``check`` until it is true; fail the test if it never is within ``within_s``."""
    async with asyncio.timeout(within_s):
        while not await check():  # noqa: ASYNC110 - polling state we do not own
            await asyncio.sleep(interval_s)


def _returns(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def returns() -> bool:
        return check()

    return returns


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(store_dir=tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def partitioned_nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """The session's server of a deployment of PARTITIONED partitions."""
    server = EmbeddedNats(store_dir=tmp_path_factory.mktemp("nats-partitioned"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def partitions() -> int:
    """The deployment's partitions: 1, and also PARTITIONED for a test marked ``partitioned``."""
    return 1


@pytest.fixture
def topology(partitions: int) -> Topology:
    return Topology(partitions=partitions)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A nats-server of the test's own, for tests that stop, freeze or fill it."""
    server = EmbeddedNats(store_dir=tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        if server.pid is not None:
            os.kill(server.pid, signal.SIGCONT)  # never leave a frozen process behind
        server.stop()


@pytest.fixture
def nats_url(request: pytest.FixtureRequest, partitions: int) -> str:
    """The session's server of the test's number of partitions."""
    name = "nats_server" if partitions == 1 else "partitioned_nats_server"
    server: EmbeddedNats = request.getfixturevalue(name)
    return server.url


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def client(nats_url: str, topology: Topology) -> AsyncIterator[Client]:
    async with Client(nats_url, topology=topology) as connected:
        yield connected


NodeFactory = Callable[..., contextlib.AbstractAsyncContextManager[Node]]


@pytest.fixture
def start_node(nats_url: str, topology: Topology) -> NodeFactory:
    """``async with start_node(registry_or_handlers, queues=[...], capacity=...) as node:``."""

    @contextlib.asynccontextmanager
    async def start(
        handlers: HandlerRegistry | dict[str, Callable[..., Any]],
        **options: Any,
    ) -> AsyncIterator[Node]:
        if isinstance(handlers, dict):
            registry = HandlerRegistry()
            for queue_name, func in handlers.items():
                registry.register(func, queue=queue_name)
            handlers = registry
        options.setdefault("servers", nats_url)
        options.setdefault("topology", topology)
        options.setdefault("grace_s", 5.0)
        options.setdefault("retry_base_s", 0.05)
        options.setdefault("retry_max_s", 0.2)
        async with Node(handlers=handlers, **options) as node:
            if node.options.claim_after_s > 0:  # tests expect short tasks to start unclaimed
                await eventually(_returns(lambda: node.cancel_memory_live))
            yield node

    return start


@pytest.fixture
def tmp_store(tmp_path: Path) -> Path:
    return tmp_path / "store"
