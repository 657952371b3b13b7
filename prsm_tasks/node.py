"""Node: a peer that serves queues with its handlers. Its actors run in one TaskGroup.

Shutdown reads as an ordered script (see ``_shut_down``): stop pulling, let running tasks
finish within the grace period, hand the rest back with ``nak`` so peers take them at once,
flush events, withdraw the advert, drain the connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from importlib.metadata import PackageNotFoundError, version

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from prsm_tasks import bus, wire
from prsm_tasks.actors.advertiser import Advertiser, ResourceSampler, default_node_id, host_name
from prsm_tasks.actors.base import supervise
from prsm_tasks.actors.intake import Intake, WorkPair
from prsm_tasks.actors.runner import Runner
from prsm_tasks.actors.support import RunnerDeps
from prsm_tasks.errors import HandlerError
from prsm_tasks.handlers import DECLARED, HandlerFunc, HandlerRegistry, HandlerSpec
from prsm_tasks.messages import NodeAd
from prsm_tasks.models import TaskRecord
from prsm_tasks.store.batches import BatchCoordinator
from prsm_tasks.store.cancels import CancelMemory
from prsm_tasks.store.events import EventPublisher
from prsm_tasks.store.tasks import TaskStore
from prsm_tasks.type_registration import register_node_types

log = structlog.get_logger("prsm.node")


def package_version() -> str:
    try:
        return version("prsm-tasks")
    except PackageNotFoundError:
        return "0+unknown"


class Node:
    def __init__(
        self,
        *,
        servers: str | list[str],
        queues: Iterable[str] | None = None,
        capacity: int = 8,
        name: str | None = None,
        handlers: HandlerRegistry | Iterable[HandlerSpec] | None = None,
        use_declared_handlers: bool = False,
        lease_s: float = 20.0,
        grace_s: float = 30.0,
        claim_after_s: float = 0.02,
        starvation_age_s: float = 30.0,
        advert_interval_s: float = 2.0,
        retry_base_s: float = 1.0,
        retry_max_s: float = 300.0,
        progress_record_interval_s: float = 1.0,
        progress_event_interval_s: float = 0.1,
        thread_pool_size: int = 32,
        max_result_bytes: int = 1_048_576,
        park_s: float = 10.0,
        topology: bus.Topology | None = None,
        after_final: Callable[[TaskRecord], Awaitable[None]] | None = None,
    ) -> None:
        if capacity < 1:
            raise HandlerError(f"capacity must be at least 1, got {capacity}")
        self.node_id = default_node_id(name)
        self.servers = servers
        self.capacity = capacity
        self.registry = (
            handlers if isinstance(handlers, HandlerRegistry) else HandlerRegistry(handlers or ())
        )
        if use_declared_handlers:
            for spec in DECLARED.specs():
                self.registry.add(spec)
        self._queues = [wire.check_queue_name(q) for q in queues] if queues is not None else None
        self.lease_s = lease_s
        self.grace_s = grace_s
        self.claim_after_s = claim_after_s
        self.starvation_age_s = starvation_age_s
        self.advert_interval_s = advert_interval_s
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.progress_record_interval_s = progress_record_interval_s
        self.progress_event_interval_s = progress_event_interval_s
        self.thread_pool_size = thread_pool_size
        self.max_result_bytes = max_result_bytes
        self.park_s = park_s
        self.topology = topology or bus.Topology()
        self.after_final = after_final
        self.started_at = time.time()
        self.ready = asyncio.Event()
        self.running: dict[str, Runner] = {}
        self.counters: Counter[str] = Counter()
        self._stop = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._intake: Intake | None = None
        self._runners_tg: asyncio.TaskGroup | None = None
        self._runner_tasks: set[asyncio.Task[None]] = set()
        self._progress_dirty: set[Runner] = set()
        self._progress_wake = asyncio.Event()
        self._sampler = ResourceSampler()
        self._background: asyncio.Task[None] | None = None
        self._cancels: CancelMemory | None = None

    # --- declaring handlers ------------------------------------------------------------------

    def handler(
        self, queue: str, task_type: str | None = None
    ) -> Callable[[HandlerFunc], HandlerFunc]:
        def declare(func: HandlerFunc) -> HandlerFunc:
            self.registry.register(func, queue=queue, task_type=task_type)
            return func

        return declare

    def register(
        self, handler: HandlerFunc | type, *, queue: str, task_type: str | None = None
    ) -> None:
        """Serve ``queue`` with a handler function or a ``BaseTask`` subclass."""
        self.registry.register(handler, queue=queue, task_type=task_type)

    @property
    def queues(self) -> list[str]:
        served = set(self.registry.queues)
        if self._queues is None:
            return sorted(served)
        return [queue for queue in self._queues if queue in served]

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def free_slots(self) -> int:
        return self.capacity - self._in_flight

    # --- running -------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    async def __aenter__(self) -> Node:
        self._background = asyncio.create_task(self.run())
        ready = asyncio.create_task(self.ready.wait())
        done, _ = await asyncio.wait({ready, self._background}, return_when=asyncio.FIRST_COMPLETED)
        if self._background in done:
            ready.cancel()
            await self._background  # raises why it could not start
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()
        if self._background is not None:
            await self._background

    async def run(self) -> None:
        """Serve until ``stop()``; returns after an orderly shutdown."""
        if self._queues is not None:
            missing = sorted(set(self._queues) - set(self.registry.queues))
            if missing:
                log.warning("queues_without_handler", queues=missing)
        if not self.queues:
            raise HandlerError("this node has no handler for any queue it was asked to serve")
        nc = await bus.connect(
            self.servers,
            name=self.node_id,
            on_reconnected=self._on_reconnected,
            on_disconnected=self._on_disconnected,
            internal_subjects_only=True,
        )
        try:
            await self._serve(nc)
        finally:
            try:
                await nc.drain()
            except Exception as exc:  # already closed by a failing server: nothing to drain
                log.debug("drain_failed", error=repr(exc))

    async def _serve(self, nc: NatsClient) -> None:
        js = nc.jetstream(timeout=10.0)
        await bus.ensure_topology(js, self.topology)
        for queue in self.queues:
            await bus.ensure_work_consumers(js, queue, lease_s=self.lease_s)
        store = await TaskStore.open(nc, js, final_ttl_s=self.topology.finished_task_ttl_s)
        await register_node_types(js, self.registry)  # its task types, and their checks
        events = EventPublisher(nc)
        await events.start()
        batches = await BatchCoordinator.open(nc=nc, js=js, store=store, events=events)
        if self.claim_after_s > 0:
            self._cancels = CancelMemory(js, memory_s=self.topology.cancel_memory_s)
            await self._cancels.start()
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.thread_pool_size, thread_name_prefix="prsm-handler"
        )
        self._deps = RunnerDeps(
            node_id=self.node_id,
            store=store,
            events=events,
            registry=self.registry,
            executor=executor,
            running=self.running,
            lease_s=self.lease_s,
            claim_after_s=self.claim_after_s,
            cancels=self._cancels,
            retry_base_s=self.retry_base_s,
            retry_max_s=self.retry_max_s,
            max_result_bytes=self.max_result_bytes,
            progress_record_interval_s=self.progress_record_interval_s,
            progress_event_interval_s=self.progress_event_interval_s,
            on_progress=self._on_progress,
            counters=self.counters,
            after_final=self._after_final_hooks(batches),
            after_final_all=self.after_final is not None,
        )
        advertiser = Advertiser(
            kv=await js.key_value(wire.NODES_BUCKET),
            build_ad=self.advert,
            interval_s=self.advert_interval_s,
        )
        self._intake = Intake(
            nc=nc,
            queues=self.queues,
            free_slots=self.free_slots,
            dispatch=self._dispatch,
            starvation_age_s=self.starvation_age_s,
            park_s=self.park_s,
        )
        cancel_sub = await nc.subscribe(f"{wire.CANCEL_PREFIX}.*", cb=self._on_cancel)
        try:
            async with asyncio.TaskGroup() as actors, asyncio.TaskGroup() as runners:
                self._runners_tg = runners
                intake_task = actors.create_task(supervise("intake", self._intake.run))
                loops = [
                    actors.create_task(supervise("advertiser", advertiser.run)),
                    actors.create_task(supervise("lease_keeper", self._keep_leases)),
                    actors.create_task(supervise("progress_pump", self._pump_progress)),
                ]
                await advertiser.publish_once()
                log.info(
                    "node_ready",
                    node_id=self.node_id,
                    queues=self.queues,
                    capacity=self.capacity,
                    handlers=len(self.registry),
                )
                self.ready.set()
                await self._stop.wait()
                await self._shut_down(intake_task, advertiser, events)
                for task in loops:
                    task.cancel()
        finally:
            await cancel_sub.unsubscribe()
            if self._cancels is not None:
                await self._cancels.stop()
            executor.shutdown(wait=False, cancel_futures=True)

    async def _shut_down(
        self, intake_task: asyncio.Task[None], advertiser: Advertiser, events: EventPublisher
    ) -> None:
        log.info("node_stopping", in_flight=self._in_flight, grace_s=self.grace_s)
        assert self._intake is not None
        self._intake.stop()
        await intake_task
        try:
            async with asyncio.timeout(self.grace_s):
                await self._idle.wait()
        except TimeoutError:
            log.warning("handing_back_tasks", count=len(self._runner_tasks))
            # every runner, also one still claiming (its handler would start after this)
            for task in list(self._runner_tasks):
                task.cancel()
            await self._idle.wait()
        advertiser.stop()
        await advertiser.withdraw(self.node_id)
        await events.stop()
        log.info("node_stopped", node_id=self.node_id, **dict(self.counters))

    def _dispatch(self, msg: Msg, pair: WorkPair) -> None:
        assert self._runners_tg is not None
        self._in_flight += 1
        self._idle.clear()
        runner = Runner(msg, self._deps)
        self._runner_tasks.add(self._runners_tg.create_task(self._run_one(runner)))

    async def _run_one(self, runner: Runner) -> None:
        try:
            await runner.run()
        except asyncio.CancelledError:
            if not runner.cancel_requested:
                try:
                    await runner.hand_back()
                except Exception as exc:  # shutting down: the lease lapses and a peer decides
                    log.warning("hand_back_failed", task_id=runner.task_id, error=repr(exc))
        except Exception as exc:  # a bug or NATS away mid-claim: the lease lapses, a peer retries
            log.error("runner_crashed", task_id=runner.task_id, error=repr(exc), exc_info=True)
        finally:
            self._runner_tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
            self._progress_dirty.discard(runner)
            if self._intake is not None:
                self._intake.wake()

    # --- signals -------------------------------------------------------------------------------

    async def _on_cancel(self, msg: Msg) -> None:
        task_id = msg.subject.rsplit(".", 1)[-1]
        if self._cancels is not None:
            self._cancels.note(task_id)  # its message may not have reached us yet
        runner = self.running.get(task_id)
        if runner is None:
            return
        if msg.data == wire.CHANGED_SIGNAL:
            runner.claim_now()
        else:
            log.info("cancel_signal", task_id=task_id)
            runner.request_cancel()

    async def _on_reconnected(self) -> None:
        if self._cancels is not None:
            self._cancels.reconnected()
        if self._intake is not None:
            self._intake.mark_all_active()

    def _on_disconnected(self) -> None:
        if self._cancels is not None:
            self._cancels.disconnected()  # cancels may pass us by: claim every task first

    def _after_final_hooks(
        self, batches: BatchCoordinator
    ) -> Callable[[TaskRecord], Awaitable[None]]:
        """Batches first (they let the next task of a batch go), then the caller's hook."""
        extra = self.after_final

        async def after_final(record: TaskRecord) -> None:
            await batches.after_final(record)
            if extra is not None:
                await extra(record)

        return after_final

    def _on_progress(self, runner: Runner) -> None:
        self._progress_dirty.add(runner)
        self._progress_wake.set()

    # --- small actors ----------------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        """Renew the lease of every task running longer than a third of it; flush progress."""
        renew_after_s = self.lease_s / 3
        tick_s = min(renew_after_s / 2, max(self.progress_record_interval_s, 0.05))
        while True:
            await asyncio.sleep(tick_s)
            now = time.monotonic()
            for runner in list(self.running.values()):
                if now - runner.lease_renewed_at >= renew_after_s:
                    try:
                        await runner.renew_lease()
                    except Exception as exc:  # reconnecting: the next tick tries again
                        log.warning("lease_renew_failed", task_id=runner.task_id, error=repr(exc))
                if runner.progress_dirty_record and (
                    now - runner.progress_record_at >= self.progress_record_interval_s
                ):
                    await runner.write_progress_record(now_mono=now)

    async def _pump_progress(self) -> None:
        interval_s = self.progress_event_interval_s
        while True:
            await self._progress_wake.wait()
            self._progress_wake.clear()
            now = time.monotonic()
            dirty, self._progress_dirty = self._progress_dirty, set()
            for runner in dirty:
                due = (
                    runner.pending_texts
                    or runner.progress_value == 1.0
                    or now - runner.progress_event_at >= interval_s
                )
                if due:
                    await runner.flush_progress(now_mono=now)
                else:
                    self._progress_dirty.add(runner)
            if self._progress_dirty:
                await asyncio.sleep(interval_s)
                self._progress_wake.set()

    def advert(self) -> NodeAd:
        cpu, memory = self._sampler.sample()
        now = time.time()
        return NodeAd(
            node_id=self.node_id,
            queues=self.queues,
            task_types=self.registry.task_types,
            capacity=self.capacity,
            in_flight=self._in_flight,
            load=self._in_flight / self.capacity,
            cpu_usage=cpu,
            memory_usage=memory,
            completed=self.counters["completed"],
            failed=self.counters["failed"],
            version=package_version(),
            host=host_name(),
            pid=os.getpid(),
            started_at=self.started_at,
            updated_at=now,
        )
