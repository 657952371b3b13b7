"""The native asyncio client: talks to NATS directly, like a peer node does.

One connection, one event publisher, and (while anything waits) one shared watch on the
task bucket that resolves every ``wait()`` of this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from prsm_tasks import bus, wire
from prsm_tasks.client.events import Since, iter_events
from prsm_tasks.errors import PrsmError, TaskTimeoutError
from prsm_tasks.messages import TaskEvent
from prsm_tasks.models import FINAL_STATUSES, TaskRecord, TaskSpec
from prsm_tasks.store.events import EventPublisher
from prsm_tasks.store.graph_create import (
    GraphNode,
    Parent,
    as_dependencies,
    prepare_graph,
    submit_graph,
)
from prsm_tasks.store.keys import shared_key
from prsm_tasks.store.many import enqueue_many
from prsm_tasks.store.opener import Connection, open_stores
from prsm_tasks.store.options import TaskOptions, due_time
from prsm_tasks.store.requeue import requeue
from prsm_tasks.store.tasks import TaskStore
from prsm_tasks.store.work import WorkWriter
from prsm_tasks.topology import Topology
from prsm_tasks.trace import TraceContext
from prsm_tasks.trace import checked as checked_trace

log = structlog.get_logger("prsm.client")

WATCH_IDLE_S = 10.0
# tasks this client enqueued while its watch ran: the watch saw every write of theirs, so
# wait() needs no read; kept this long at most, and no more than this many
EXPECTED_FOR_S = 300.0
EXPECTED_MAX = 10_000


def _final_record(data: bytes) -> TaskRecord | None:
    """The record a watched write stored, if it is final (no model for the others; an empty
    value is a delete or purge marker)."""
    if not data:
        return None
    fields = wire.unpack(data)
    return TaskRecord.model_validate(fields) if fields["status"] in FINAL_STATUSES else None


async def _unsubscribe(subs: list[Any]) -> None:
    for sub in subs:
        try:
            await sub.unsubscribe()
        except Exception as exc:  # closing anyway
            log.debug("watch_unsubscribe_failed", error=repr(exc))


class TaskWatch:
    """One ordered consumer on each partition's task bucket (new writes only), shared by all
    waiters."""

    def __init__(self, js: JetStreamContext, *, partitions: int = 1) -> None:
        self._js = js
        self._partitions = partitions
        self._sub: list[Any] | None = None  # the subscriptions, one per partition
        self._waiters: dict[str, list[asyncio.Future[TaskRecord]]] = {}
        self._idle_since = time.monotonic()
        self._lock = asyncio.Lock()
        # task id -> (since, its final record once seen)
        self._expected: dict[str, tuple[float, TaskRecord | None]] = {}

    def expect(self, task_id: str) -> bool:
        """Before creating ``task_id``: True if the watch will see its every write."""
        if self._sub is None:
            return False
        now = time.monotonic()
        while self._expected:
            oldest_id, (since, _) = next(iter(self._expected.items()))  # insertion = age order
            if now - since < EXPECTED_FOR_S:
                break
            del self._expected[oldest_id]
        if len(self._expected) >= EXPECTED_MAX:
            return False
        self._expected[task_id] = (now, None)
        return True

    def forget(self, task_id: str) -> None:
        self._expected.pop(task_id, None)

    async def _ensure_started(self) -> None:
        async with self._lock:
            if self._sub is not None:
                return
            subs: list[Any] = []
            try:
                with bus.nats_errors_as_prsm("watching the task bucket"):
                    for partition in range(self._partitions):
                        subs.append(
                            await self._js.subscribe(
                                f"$KV.{wire.tasks_bucket(partition)}.>",
                                cb=self._on_write,
                                ordered_consumer=True,
                                deliver_policy=DeliverPolicy.NEW,
                                config=ConsumerConfig(mem_storage=True),
                            )
                        )
            except BaseException:
                await _unsubscribe(subs)
                raise
            self._sub = subs

    async def stop(self) -> None:
        async with self._lock:
            subs, self._sub = self._sub, None
            await _unsubscribe(subs or [])
        for futures in self._waiters.values():
            for future in futures:
                if not future.done():
                    future.cancel()
        self._waiters.clear()
        self._expected.clear()

    async def _on_write(self, msg: Msg) -> None:
        task_id = msg.subject.rsplit(".", 1)[-1]
        futures = self._waiters.get(task_id)
        if futures is None:
            expected = self._expected.get(task_id)
            if expected is not None:
                final = _final_record(msg.data)
                if final is not None:
                    self._expected[task_id] = (expected[0], final)
            elif not self._waiters and time.monotonic() - self._idle_since > WATCH_IDLE_S:
                # nobody waits any more: stop receiving every write of the cluster
                async with self._lock:
                    if not self._waiters and self._sub is not None:
                        subs, self._sub = self._sub, None
                        self._expected.clear()
                        await _unsubscribe(subs)
            return
        final = _final_record(msg.data)
        if final is not None:
            self._resolve(task_id, final)

    def _resolve(self, task_id: str, record: TaskRecord) -> None:
        for future in self._waiters.pop(task_id, []):
            if not future.done():
                future.set_result(record)
        if not self._waiters:
            self._idle_since = time.monotonic()

    async def wait(self, store: TaskStore, task_id: str, timeout_s: float | None) -> TaskRecord:
        await self._ensure_started()
        future: asyncio.Future[TaskRecord] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_id, []).append(future)
        expected = self._expected.pop(task_id, None)
        try:
            if expected is not None and expected[1] is not None:
                self._resolve(task_id, expected[1])
            elif expected is None:
                # the watch sees writes from now on; the read covers what happened before
                record, _ = await store.get(task_id)
                if record.is_final:
                    self._resolve(task_id, record)
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError as exc:
            raise TaskTimeoutError(
                f"task {task_id} did not finish within {timeout_s} s", task_id=task_id
            ) from exc
        finally:
            futures = self._waiters.get(task_id)
            if futures is not None and future in futures:
                futures.remove(future)
                if not futures:
                    del self._waiters[task_id]
                    if not self._waiters:
                        self._idle_since = time.monotonic()


class Client:
    """``async with Client("nats://127.0.0.1:4222") as client: await client.enqueue(...)``."""

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        user: str | None = None,
        tenant: str | None = None,
        max_task_data_bytes: int = 1_048_576,
        topology: Topology | None = None,
        name: str = "prsm-client",
        auth: bus.NatsAuth | None = None,
    ) -> None:
        self.servers = bus.normalise_servers(servers)
        self.auth = auth or bus.NatsAuth()  # NATS credentials; ``user`` is the tasks' owner
        self.user = user
        self.tenant = tenant
        self.max_task_data_bytes = max_task_data_bytes
        self._topology = topology or Topology()
        self._name = name
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._store: TaskStore | None = None
        self._events: EventPublisher | None = None
        self._writer: WorkWriter | None = None
        self._watch: TaskWatch | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    @classmethod
    async def connect(cls, servers: str | Sequence[str], **kwargs: Any) -> Client:
        client = cls(servers, **kwargs)
        await client.open()
        return client

    async def open(self) -> Client:
        stack = contextlib.AsyncExitStack()
        connection = Connection(
            servers=self.servers,
            auth=self.auth,
            name=self._name,
            topology=self._topology,
            max_task_data_bytes=self.max_task_data_bytes,
        )
        stores = await stack.enter_async_context(open_stores(connection))
        self._stack, self._nc, self._js = stack, stores.nc, stores.js
        self._store, self._events, self._writer = stores.tasks, stores.events, stores.writer
        self._watch = TaskWatch(self._js, partitions=stores.tasks.partitions)
        return self

    async def shared_key(self, name: str) -> bytes:
        """The deployment's secret ``name`` (``store/keys.py``), e.g. the stream grants' key."""
        if self._js is None:
            raise PrsmError("client is not connected: use `async with Client(...)` or connect()")
        return await shared_key(self._js, name)

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        self._nc = None
        if stack is None:
            return
        if self._watch is not None:
            await self._watch.stop()
        await stack.aclose()  # flushes the events, drains the connection

    async def __aenter__(self) -> Client:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _parts(self) -> tuple[TaskStore, WorkWriter, TaskWatch]:
        if self._store is None or self._writer is None or self._watch is None:
            raise PrsmError("client is not connected: use `async with Client(...)` or connect()")
        return self._store, self._writer, self._watch

    async def enqueue(
        self,
        queue: str,
        task_data: dict[str, Any],
        *,
        priority: int = 5,
        max_retries: int = 3,
        timeout_seconds: float = 300.0,
        task_type: str | None = None,
        idempotency_key: str | None = None,
        eta: datetime.datetime | None = None,
        countdown_seconds: float | None = None,
        trace: str | TraceContext | None = None,
        depends_on: Sequence[Parent] | None = None,
    ) -> TaskRecord:
        """Create a task; returns once it is recorded. With ``eta`` (an aware datetime) or
        ``countdown_seconds`` it is ``scheduled`` until then (docs/client.md). ``trace``: the
        W3C traceparent (or ``ctx.trace`` in a handler) it belongs to; without, a new trace.
        With ``depends_on`` (task ids, (id, type) pairs or TaskDependency) it is ``waiting``
        until its parents let it go (docs/architecture.md, "Dependencies")."""
        _, writer, watch = self._parts()
        wire.check_queue_name(queue)
        options = TaskOptions(
            priority=priority,
            max_retries=max_retries,
            timeout_seconds=timeout_seconds,
            task_type=task_type,
            idempotency_key=idempotency_key,
            scheduled_for=due_time(eta, countdown_seconds, now=time.time()),
            trace=checked_trace(trace) or TraceContext.new().traceparent,
            depends_on=as_dependencies(depends_on) if depends_on is not None else None,
        )
        prepared = writer.prepare(queue, task_data, options, user=self.user, tenant=self.tenant)
        task_id = prepared.record.task_id
        # an idempotent retry may return an older task: only a fresh id is known to the watch
        expected = idempotency_key is None and watch.expect(task_id)
        try:
            record = await writer.submit(prepared)
        except BaseException:
            watch.forget(task_id)
            raise
        if expected and record.task_id != task_id:
            watch.forget(task_id)
        return record

    async def enqueue_many(
        self,
        queue: str,
        items: Iterable[dict[str, Any] | TaskSpec],
        *,
        priority: int = 5,
        max_retries: int = 3,
        timeout_seconds: float = 300.0,
        task_type: str | None = None,
        window: int = 256,
        eta: datetime.datetime | None = None,
        countdown_seconds: float | None = None,
    ) -> list[TaskRecord]:
        """Many tasks of one queue; ``eta`` / ``countdown_seconds`` delay them all."""
        _, writer, _ = self._parts()
        defaults = TaskOptions(
            priority=priority,
            max_retries=max_retries,
            timeout_seconds=timeout_seconds,
            task_type=task_type,
            scheduled_for=due_time(eta, countdown_seconds, now=time.time()),
        )
        return await enqueue_many(
            writer,
            queue,
            items,
            defaults,
            user=self.user,
            tenant=self.tenant,
            window=max(1, window),
        )

    async def enqueue_graph(self, nodes: Sequence[GraphNode]) -> dict[str, str]:
        """A whole task graph in one call (store/graph_create.py): every record is written
        before any runs, and a refused node refuses them all; the task ids by node key."""
        _, writer, _ = self._parts()
        prepared = prepare_graph(writer, nodes, user=self.user, tenant=self.tenant)
        records = await submit_graph(writer, prepared)
        return {node.key: record.task_id for node, record in zip(nodes, records, strict=True)}

    async def status(self, task_id: str) -> TaskRecord:
        store, _, _ = self._parts()
        record, _ = await store.get(task_id)
        return record

    async def wait(self, task_id: str, timeout: float | None = None) -> TaskRecord:  # noqa: ASYNC109
        """The task's final record, as soon as it is written (no polling)."""
        store, _, watch = self._parts()
        return await watch.wait(store, task_id, timeout)

    async def cancel(self, task_id: str) -> TaskRecord:
        _, writer, _ = self._parts()
        record, _ = await writer.cancel(task_id)
        return record

    async def requeue(self, task_id: str, *, reason: str = "run again by request") -> TaskRecord:
        """Run a stopped (failed, timed-out, cancelled or completed) task again: the same
        task, its next attempt, a fresh retry budget (store/requeue.py). TaskNotFinalError
        for a task that has not stopped."""
        store, writer, _ = self._parts()
        return await requeue(writer, store, task_id, reason=reason, by=self.user)

    def events(
        self,
        task_id: str | None = None,
        queue: str | None = None,
        event_types: Iterable[str] | None = None,
        since: Since = None,
        *,
        until_final: bool | None = None,
    ) -> AsyncIterator[TaskEvent]:
        """``async for event in client.events(...)``: typed events, replayed then live.

        See ``prsm_tasks.client.events`` for the filters and where replay starts.
        """
        if self._js is None:
            raise PrsmError("client is not connected: use `async with Client(...)` or connect()")
        return iter_events(
            self._js,
            task_id=task_id,
            queue=queue,
            event_types=event_types,
            since=since,
            until_final=until_final,
        )
