"""The nats-servers of ``scripts/bench_scale.py``: one, or a 3-server cluster on loopback.

Every server listens on 127.0.0.1 only, on a random free port, with JetStream in its own
store directory under the caller's temporary directory. A cluster's servers are routed to
each other (each one lists the other two) and are ready when an R3 stream can be created.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
from nats.js.api import StreamConfig

from prsm_tasks.embedded import EmbeddedNats

CLUSTER_SIZE = 3
CLUSTER_NAME = "prsm-bench"
READY_STREAM = "BENCH_READY"


def free_port() -> int:
    """A port nobody listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def open_servers(*, cluster: bool, root: Path) -> Iterator[list[EmbeddedNats]]:
    """Start one server or a routed cluster of three; stop them all on the way out."""
    servers: list[EmbeddedNats] = []
    try:
        if not cluster:
            servers.append(EmbeddedNats(store_dir=root / "nats-0").start())
        else:
            route_ports = [free_port() for _ in range(CLUSTER_SIZE)]
            for index, route_port in enumerate(route_ports):
                routes = ",".join(
                    f"nats://127.0.0.1:{port}" for port in route_ports if port != route_port
                )
                server = EmbeddedNats(
                    store_dir=root / f"nats-{index}",
                    extra_args=[
                        "--server_name",
                        f"bench-{index}",
                        "--cluster_name",
                        CLUSTER_NAME,
                        "--cluster",
                        f"nats://127.0.0.1:{route_port}",
                        "--routes",
                        routes,
                    ],
                )
                servers.append(server)
                server.start(timeout_s=60)
        yield servers
    finally:
        for server in servers:
            server.stop()


async def wait_jetstream_ready(urls: list[str], *, replicas: int, within_s: float = 90.0) -> None:
    """Poll until a stream of ``replicas`` replicas can be created (a cluster needs its meta
    leader elected and every peer known first), then delete it again."""
    deadline = time.monotonic() + within_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            nc = await nats.connect(urls, connect_timeout=5, max_reconnect_attempts=0)
        except (OSError, nats.errors.Error) as exc:
            last_error = exc
            await asyncio.sleep(0.5)
            continue
        try:
            js = nc.jetstream(timeout=10)
            await js.add_stream(
                StreamConfig(name=READY_STREAM, subjects=["bench.ready"], num_replicas=replicas)
            )
            await js.delete_stream(READY_STREAM)
            return
        except (TimeoutError, nats.errors.Error) as exc:
            last_error = exc
            await asyncio.sleep(0.5)
        finally:
            await nc.close()
    raise RuntimeError(f"JetStream was not ready within {within_s} s: {last_error!r}")
