"""The services of one edge process: the open stores, the mirrors kept from bucket watches,
and the queue rules every surface applies.

``open_services`` starts the watches (node adverts, task types, tasks) and stops them when
its block ends; the stores it is given stay open (whoever opened them closes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from prsm_tasks import wire
from prsm_tasks.errors import (
    QueueNotAvailableError,
    ServiceUnavailableError,
    WorkerUnavailableError,
)
from prsm_tasks.services.grants import StreamGrants
from prsm_tasks.services.mirrors import NodeView, TypeView
from prsm_tasks.services.quotas import Quotas, WorkRoom, check_unfinished
from prsm_tasks.services.stats import HostSampler, sample_storage
from prsm_tasks.services.view import TaskView
from prsm_tasks.store.checkpoints import CheckpointStore
from prsm_tasks.store.external import ExternalWork
from prsm_tasks.store.keys import shared_key
from prsm_tasks.store.opener import Stores
from prsm_tasks.store.types import TaskTypeStore
from prsm_tasks.store.watch import BucketWatch
from prsm_tasks.store.work import WorkWriter

if TYPE_CHECKING:
    from prsm_tasks.config import Settings

log = structlog.get_logger("prsm.services")


@dataclass(frozen=True, kw_only=True)
class QueueRules:
    """Which queues take tasks: the configured ones and those a live node serves, less the
    ones the operator disabled."""

    queues: tuple[str, ...] = wire.STANDARD_QUEUES
    disabled_queues: frozenset[str] = frozenset()
    node_stale_s: float = 10.0  # a node advert older than this is not live

    @classmethod
    def from_settings(cls, settings: Settings) -> QueueRules:
        return cls(
            queues=tuple(settings.queues),
            disabled_queues=frozenset(settings.disabled_queues),
            node_stale_s=settings.node_stale_seconds,
        )


@dataclass(kw_only=True)
class Services:
    stores: Stores
    rules: QueueRules
    type_store: TaskTypeStore
    external: ExternalWork
    nodes: NodeView
    grants: StreamGrants  # signs the stream_url of enqueue, checks it at the stream
    work_room: WorkRoom  # how full PRSM_WORK is: an enqueue that cannot fit is refused first
    quotas: Quotas = field(default_factory=Quotas)
    view: TaskView = field(default_factory=TaskView)
    types: TypeView = field(default_factory=TypeView)
    host: HostSampler = field(default_factory=HostSampler)
    watches: list[BucketWatch] = field(default_factory=list)
    storage: tuple[float, int | None, int | None] = (0.0, None, None)  # (read at, used, limit)
    health_status: str = ""  # the last one reported, to log each change once
    started_at: float = field(default_factory=time.time)
    checkpoints: CheckpointStore | None = None  # persistent jobs (services/jobs.py), made once

    @property
    def writer(self) -> WorkWriter:
        return self.stores.writer

    @property
    def caught_up(self) -> bool:
        return all(watch.caught_up.is_set() for watch in self.watches)

    def check_connected(self) -> None:
        """Fail at once while NATS is away or stalled, instead of waiting out a request
        timeout."""
        if not self.stores.liveness.answering:
            raise ServiceUnavailableError("NATS is unreachable; try again shortly")

    async def check_room(
        self, tenant: str | None, *, tasks: int, messages: int, message_bytes: int
    ) -> None:
        """Before writing ``tasks`` tasks of a tenant, ``messages`` of them with a work
        message now (``message_bytes`` in all): its unfinished-task quota (429), then the
        work stream's room (507)."""
        check_unfinished(self.quotas, self.view, tenant, tasks)
        await self.work_room.check(messages, message_bytes)

    def check_enabled(self, queue: str, *, field: str | None = "queue_name") -> None:
        if queue in self.rules.disabled_queues:
            raise QueueNotAvailableError(f"queue {queue} is disabled by the operator", field=field)

    def check_queue(self, queue: str, *, require_worker: bool = False) -> None:
        """A queue (a name already checked) that takes tasks now; 400 or 503 otherwise."""
        self.check_enabled(queue)
        serving = self.nodes.serving(queue)
        if queue not in self.rules.queues and not serving:
            raise QueueNotAvailableError(
                f"queue {queue} is not configured and no live node serves it", field="queue_name"
            )
        if require_worker and not serving:
            raise WorkerUnavailableError(f"no live node serves queue {queue} right now")


@contextlib.asynccontextmanager
async def open_services(
    stores: Stores, rules: QueueRules, quotas: Quotas | None = None
) -> AsyncIterator[Services]:
    """The services on ``stores``, their mirrors caught up with the buckets' watches."""
    quotas = quotas or Quotas()
    services = Services(
        stores=stores,
        rules=rules,
        quotas=quotas,
        work_room=WorkRoom(stores.js, partitions=stores.tasks.partitions),
        type_store=await TaskTypeStore.open(stores.js),
        external=ExternalWork(
            nc=stores.nc,
            js=stores.js,
            store=stores.tasks,
            events=stores.events,
            after_final=stores.writer.after_final,
            consumer_idle_s=quotas.claim_consumer_idle_s,
            after_start=stores.writer.graph.after_start,
        ),
        nodes=NodeView(stale_s=rules.node_stale_s),
        view=TaskView(partitions=stores.tasks.partitions),
        # read once: every edge of the deployment signs and checks with the same key
        grants=StreamGrants(await shared_key(stores.js, wire.STREAM_GRANT_KEY)),
    )
    services.host.network_mbps()  # the baseline the first health report compares with
    try:
        for bucket, sink in (
            (wire.NODES_BUCKET, services.nodes.on_entry),
            (wire.TYPES_BUCKET, services.types.on_entry),
            # every partition's bucket feeds the one view: a task's writes all land in one
            *(
                (wire.tasks_bucket(p), services.view.on_entry)
                for p in range(stores.tasks.partitions)
            ),
        ):
            watch = BucketWatch(stores.js, bucket, sink)
            services.watches.append(watch)
            await watch.start()
        log.info("edge_view_ready", tasks=len(services.view.entries), nodes=len(services.nodes.ads))
        sampler = asyncio.create_task(sample_storage(services), name="storage-sampler")
        try:
            yield services
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
    finally:
        for watch in services.watches:
            await watch.stop()
