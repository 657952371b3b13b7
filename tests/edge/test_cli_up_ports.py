"""`prsm-tasks up` on a port in use: one clear line, a nonzero exit, nothing left running;
a failure after the node started stops it by its graceful path."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.js.errors
import pytest

from prsm_tasks import wire
from prsm_tasks.config import Settings
from prsm_tasks.errors import PortInUseError
from prsm_tasks.handlers import HandlerRegistry
from prsm_tasks.node import Node
from prsm_tasks.up import serve_node_and_edge
from scripts.wheel_smoke import read_edge, start_up, stop

COMMAND = str(Path(sys.executable).parent / "prsm-tasks")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def run_up(data_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRSM_LOG_LEVEL": "warning"}
    env.pop("PRSM_JWT_SECRET", None)
    process = subprocess.Popen(
        [COMMAND, "up", "--data", str(data_dir), *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # it started after all: stop it, and its nats-server
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode is not None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize(
    ("flag", "other", "named"),
    [("--port", "--nats-port", "edge"), ("--nats-port", "--port", "NATS")],
)
async def test_up_on_a_taken_port_says_so_in_one_line(
    tmp_path: Path, taken_port: int, flag: str, other: str, named: str
) -> None:
    done = await asyncio.to_thread(run_up, tmp_path / "data", flag, str(taken_port), other, "0")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "is up" not in output  # nothing claimed to be up
    assert "Traceback" not in output and "ExceptionGroup" not in output
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert f"the {named} port {taken_port}" in lines[0] and flag in lines[0]
    assert not (tmp_path / "data" / "endpoints.json").exists()  # nothing to find


async def test_a_failure_after_the_node_started_stops_it_gracefully(
    nats_url: str, queue: str, taken_port: int
) -> None:
    """The edge cannot bind (its port was taken after `up` checked it): the error comes out
    as itself, and the node went by its graceful path (its advert withdrawn, not left to
    expire as a killed node's is)."""
    registry = HandlerRegistry()
    registry.register(lambda ctx: None, queue=queue)
    settings = Settings(servers=[nats_url], queues=[queue], port=taken_port, jwt_secret="s" * 32)
    node = Node.from_settings(settings, handlers=registry)
    announced: list[object] = []
    with pytest.raises(PortInUseError, match=f"edge port {taken_port}"):
        await serve_node_and_edge(settings, node, asyncio.Event(), on_ready=announced.append)
    assert announced == []
    assert node.ready.is_set()  # it had started
    nc = await nats.connect(nats_url)
    try:
        adverts = await nc.jetstream().key_value(wire.NODES_BUCKET)
        with pytest.raises(nats.js.errors.KeyNotFoundError):
            await adverts.get(node.node_id)
    finally:
        await nc.close()


async def test_a_second_up_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    """It would share the first one's store and overwrite (then remove) its endpoints."""
    data_dir = tmp_path / "data"
    first = start_up(COMMAND, data_dir)
    try:
        await asyncio.to_thread(read_edge, first)
        endpoints = (data_dir / "endpoints.json").read_text()
        done = await asyncio.to_thread(run_up, data_dir, "--port", "0", "--nats-port", "0")
        assert done.returncode != 0
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "another prsm-tasks up uses" in lines[0], done.stderr
        assert (data_dir / "endpoints.json").read_text() == endpoints
    finally:
        await asyncio.to_thread(stop, first)
