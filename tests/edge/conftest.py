"""Fixtures of the edge tests: an edge in this process (real HTTP on a free port) or as a
`prsm-tasks edge` subprocess, JWTs for a few users and tenants, and a small HTTP caller."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
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

SECRET = "edge-test-secret-0123456789abcdef"
EDGE_LINE = re.compile(r"edge:\s+(http://\S+)")


def token(
    user: str = "alice", tenant: str = "acme", *, roles: tuple[str, ...] = (), **kw: Any
) -> str:
    return mint_token(SECRET, user=user, tenant=tenant, roles=list(roles), **kw)


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any


class Caller:
    """One user's view of an edge: ``await alice.post("/enqueue", {...})``."""

    def __init__(self, session: aiohttp.ClientSession, url: str, bearer: str | None) -> None:
        self.session = session
        self.url = url
        self.bearer = bearer

    async def call(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, **params: Any
    ) -> Answer:
        headers = {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}
        async with self.session.request(
            method,
            self.url + path,
            json=body if raw is None else None,
            data=raw,
            params={k: str(v) for k, v in params.items()},
            headers=headers,
        ) as response:
            text = await response.text()
            try:
                parsed: Any = await response.json(content_type=None)
            except ValueError:
                parsed = text
            return Answer(response.status, parsed, response.headers)

    async def get(self, path: str, **params: Any) -> Answer:
        return await self.call("GET", path, **params)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return await self.call("POST", path, body, **kw)

    async def delete(self, path: str) -> Answer:
        return await self.call("DELETE", path)


@pytest.fixture
def edge_config(nats_url: str, topology: Topology) -> Callable[..., EdgeConfig]:
    def make(**overrides: Any) -> EdgeConfig:
        options: dict[str, Any] = {
            "connection": Connection(servers=[nats_url], name=EDGE_NAME, topology=topology),
            "auth": AuthConfig(secret=SECRET),
            "port": 0,
            "rate_limit_per_s": 10_000.0,
            "rate_limit_burst": 10_000,
        }
        options.update(overrides)
        return EdgeConfig(**options)

    return make


@pytest.fixture
async def edge(edge_config: Callable[..., EdgeConfig], queue: str) -> AsyncIterator[RunningEdge]:
    """An edge whose configured queues include this test's queue."""
    async with open_edge(
        edge_config(rules=QueueRules(queues=(queue, "ml_inference_queue")))
    ) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as opened:
        yield opened


@pytest.fixture
def as_user(session: aiohttp.ClientSession, edge: RunningEdge) -> Callable[..., Caller]:
    def make(user: str = "alice", tenant: str = "acme", *, roles: tuple[str, ...] = ()) -> Caller:
        return Caller(session, edge.url, token(user, tenant, roles=roles))

    return make


@pytest.fixture
def alice(as_user: Callable[..., Caller]) -> Caller:
    return as_user("alice", "acme")


@contextlib.contextmanager
def spawned_edge(nats_url: str, *, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """`prsm-tasks edge --port 0` as a subprocess; yields its URL, stops it with SIGTERM."""
    env = {
        **os.environ,
        "PRSM_JWT_SECRET": SECRET,
        "PRSM_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "prsm_tasks.cli", "edge", "--servers", nats_url, "--port", "0"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    try:
        url = read_url(process)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def read_url(process: subprocess.Popen[str], *, within_s: float = 60.0) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + within_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        match = EDGE_LINE.search(line)
        if match:
            return match.group(1)
    raise AssertionError("the edge did not start:\n" + "".join(seen))
