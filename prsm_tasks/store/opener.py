"""Open the bus and the stores once: connect, ensure the topology, build the stores.

Every process that talks to NATS (a peer node, an edge, the native client, the scripts)
opens its connection here, so the connection, the streams and buckets and the stores built
on them are made the same way everywhere and closed in one place, in reverse order.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from prsm_tasks import bus
from prsm_tasks.store.batches import BatchCoordinator
from prsm_tasks.store.events import EventPublisher
from prsm_tasks.store.liveness import DEFAULT_STALL_S, ConnectionWatchdog
from prsm_tasks.store.tasks import TaskStore
from prsm_tasks.store.work import WorkWriter
from prsm_tasks.topology import Topology, ensure_topology, spread_partition_leaders

if TYPE_CHECKING:
    from prsm_tasks.config import Settings

log = structlog.get_logger("prsm.store")

JETSTREAM_TIMEOUT_S = 10.0
DEFAULT_MAX_TASK_DATA_BYTES = 1_048_576


@dataclass(frozen=True, kw_only=True)
class Connection:
    """How to reach NATS (servers, credentials) and what to build there (the topology, the
    size of task data)."""

    servers: str | Sequence[str]
    name: str
    auth: bus.NatsAuth = field(default_factory=bus.NatsAuth)
    topology: Topology = field(default_factory=Topology)
    max_task_data_bytes: int = DEFAULT_MAX_TASK_DATA_BYTES
    on_reconnected: Callable[[], Coroutine[Any, Any, None]] | None = None
    on_disconnected: Callable[[], None] | None = None
    # only for connections whose subjects all come from wire.py (a node's): see bus.connect
    internal_subjects_only: bool = False
    ping_interval_s: float = 120.0  # the library's keep-alive pings (nats-py's default)
    # a connection that answers nothing for this long is reconnected (store/liveness.py)
    stall_s: float = DEFAULT_STALL_S

    @classmethod
    def from_settings(cls, settings: Settings, *, name: str, **hooks: Any) -> Connection:
        """The servers, topology and task data limit of ``settings``; ``hooks``: the
        reconnect callbacks and ``internal_subjects_only`` of the caller."""
        return cls(
            servers=settings.servers,
            name=name,
            auth=bus.NatsAuth.from_settings(settings),
            topology=Topology.from_settings(settings),
            max_task_data_bytes=settings.max_task_data_bytes,
            stall_s=settings.nats_stall_seconds,
            **hooks,
        )


@dataclass(frozen=True, kw_only=True)
class Stores:
    """One open connection and the stores on it."""

    nc: NatsClient
    js: JetStreamContext
    liveness: ConnectionWatchdog
    tasks: TaskStore
    events: EventPublisher
    batches: BatchCoordinator
    topology: Topology

    @property
    def writer(self) -> WorkWriter:
        """Enqueue and cancel; its cancels reach the batch coordinator (``after_final``)."""
        return self.batches.writer


@contextlib.asynccontextmanager
async def open_stores(connection: Connection) -> AsyncIterator[Stores]:
    """Connect, ensure the topology, open the stores; close them all when the block ends."""
    nc = await bus.connect(
        connection.servers,
        name=connection.name,
        on_reconnected=connection.on_reconnected,
        on_disconnected=connection.on_disconnected,
        internal_subjects_only=connection.internal_subjects_only,
        ping_interval_s=connection.ping_interval_s,
        auth=connection.auth,
    )
    liveness = ConnectionWatchdog(nc, name=connection.name, stall_s=connection.stall_s)
    try:
        await liveness.start()
        js = nc.jetstream(timeout=JETSTREAM_TIMEOUT_S)
        await ensure_topology(js, connection.topology)
        await spread_partition_leaders(nc, js, connection.topology)
        async with contextlib.AsyncExitStack() as stack:
            tasks = await TaskStore.open(
                nc,
                js,
                final_ttl_s=connection.topology.finished_task_ttl_s,
                partitions=connection.topology.partitions,
            )
            stack.push_async_callback(tasks.close)
            events = EventPublisher(nc)
            await events.start()
            stack.push_async_callback(events.stop)  # flushes what is still queued
            batches = await BatchCoordinator.open(
                nc=nc,
                js=js,
                store=tasks,
                events=events,
                max_task_data_bytes=connection.max_task_data_bytes,
                final_ttl_s=connection.topology.finished_task_ttl_s,
            )
            # before the events and the requests close: answers of work messages still due
            stack.push_async_callback(batches.writer.close)
            yield Stores(
                nc=nc,
                js=js,
                liveness=liveness,
                tasks=tasks,
                events=events,
                batches=batches,
                topology=connection.topology,
            )
    finally:
        await liveness.stop()
        try:
            await nc.drain()
        except Exception as exc:  # the server may be gone; the socket closes either way
            log.debug("drain_failed", connection=connection.name, error=repr(exc))
