"""Node: a peer that serves queues with its handlers. Its actors run in one TaskGroup.

Shutdown reads as an ordered script (see ``_shut_down``): stop pulling, let running tasks
finish within the grace period, hand the rest back with ``nak`` so peers take them at once,
flush events, withdraw the advert, drain the connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import structlog
from nats.aio.msg import Msg
from nats.js.kv import KeyValue

from prsm_tasks import bus, wire
from prsm_tasks.actors.advertiser import Advertiser, ResourceSampler, default_node_id, host_name
from prsm_tasks.actors.announce import Announcer
from prsm_tasks.actors.attempt import Attempt
from prsm_tasks.actors.base import stop_actors, supervise
from prsm_tasks.actors.checkpoints import Checkpointer
from prsm_tasks.actors.claims import Claims
from prsm_tasks.actors.intake import Intake, WorkPair
from prsm_tasks.actors.leases import LeaseKeeper
from prsm_tasks.actors.logs import LogPump
from prsm_tasks.actors.metering import Meter
from prsm_tasks.actors.options import NodeOptions
from prsm_tasks.actors.outcomes import Outcomes
from prsm_tasks.actors.progress import ProgressPump
from prsm_tasks.actors.repair import RepairSweeper, repair_sweeper
from prsm_tasks.actors.runner import Runner, RunnerDeps
from prsm_tasks.actors.timers import TimerActor, TimerHandlers
from prsm_tasks.config import Settings
from prsm_tasks.errors import HandlerError
from prsm_tasks.handlers import DECLARED, HandlerFunc, HandlerRegistry, HandlerSpec
from prsm_tasks.messages import NodeAd
from prsm_tasks.models import TaskRecord
from prsm_tasks.schedules.timer import TIMER_KIND as SCHEDULE_TIMER_KIND
from prsm_tasks.schedules.timer import WAIT_TIMER_KIND as SCHEDULE_WAIT_TIMER_KIND
from prsm_tasks.store.batches import BatchCoordinator
from prsm_tasks.store.cancels import CancelMemory
from prsm_tasks.store.checkpoints import CheckpointStore
from prsm_tasks.store.delayed import TIMER_KIND
from prsm_tasks.store.events import EventPublisher
from prsm_tasks.store.logs import chunk_subject_of
from prsm_tasks.store.opener import Connection, Stores, open_stores
from prsm_tasks.store.tasks import TaskStore
from prsm_tasks.store.timers import Fire
from prsm_tasks.store.type_index import TypeIndex
from prsm_tasks.topology import Topology, ensure_work_consumers
from prsm_tasks.type_registration import NodeTypeCheck, register_node_types

log = structlog.get_logger("prsm.node")


def package_version() -> str:
    try:
        return version("prsm-tasks")
    except PackageNotFoundError:
        return "0+unknown"


class Node:
    """A peer node. Tuning comes as one ``NodeOptions`` (``from_settings`` for the CLI);
    keyword overrides of its fields (``lease_s=3.0``) are a shorthand for tests and scripts."""

    def __init__(
        self,
        *,
        servers: str | list[str],
        auth: bus.NatsAuth | None = None,
        queues: Iterable[str] | None = None,
        name: str | None = None,
        handlers: HandlerRegistry | Iterable[HandlerSpec] | None = None,
        use_declared_handlers: bool = False,
        options: NodeOptions | None = None,
        topology: Topology | None = None,
        after_final: Callable[[TaskRecord], Awaitable[None]] | None = None,
        **overrides: Any,
    ) -> None:
        self.options = dataclasses.replace(options or NodeOptions(), **overrides)
        if self.options.capacity < 1:
            raise HandlerError(f"capacity must be at least 1, got {self.options.capacity}")
        self.node_id = default_node_id(name)
        self.servers = servers
        self.auth = auth or bus.NatsAuth()
        self.capacity = self.options.capacity
        self.registry = (
            handlers if isinstance(handlers, HandlerRegistry) else HandlerRegistry(handlers or ())
        )
        if use_declared_handlers:
            for spec in DECLARED.specs():
                self.registry.add(spec)
        self._queues = [wire.check_queue_name(q) for q in queues] if queues is not None else None
        self.topology = topology or Topology()
        self.after_final = after_final
        self.started_at = time.time()
        self.ready = asyncio.Event()
        self.disconnects = 0  # from NATS, the watchdog's forced reconnects included
        self.running: dict[str, Runner] = {}
        self.counters: Counter[str] = Counter()
        self._stop = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._intake: Intake | None = None
        self._runners_tg: asyncio.TaskGroup | None = None
        self._runner_tasks: set[asyncio.Task[None]] = set()
        self._sampler = ResourceSampler()
        self._background: asyncio.Task[None] | None = None
        self._cancels: CancelMemory | None = None
        self.repair_sweeper: RepairSweeper | None = None
        # the fires of server timers this node handles, by kind (actors/timers.py); kind
        # "task" (delayed tasks) is added at start
        self.timer_handlers = TimerHandlers()
        self.timer_actor: TimerActor | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, handlers: HandlerRegistry) -> Node:
        return cls(
            servers=settings.servers,
            auth=bus.NatsAuth.from_settings(settings),
            queues=settings.queues,
            name=settings.node_name,
            handlers=handlers,
            options=NodeOptions.from_settings(settings),
            topology=Topology.from_settings(settings),
        )

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

    @property
    def cancel_memory_live(self) -> bool:
        """Whether this node may start short tasks before their claim: its cancel memory has
        caught up (it replays after the node is ready; see store/cancels.py)."""
        return self._cancels is not None and self._cancels.live

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
        connection = Connection(
            servers=self.servers,
            auth=self.auth,
            name=self.node_id,
            topology=self.topology,
            on_reconnected=self._on_reconnected,
            on_disconnected=self._on_disconnected,
            internal_subjects_only=True,
            stall_s=self.options.nats_stall_s,
            ping_interval_s=self.options.nats_ping_interval_s,
        )
        async with open_stores(connection) as stores:
            await self._serve(stores)

    async def _prepare(self, stores: Stores) -> tuple[KeyValue, RepairSweeper | None]:
        """What must be in place before the first pull, asked for all at once (they do not
        depend on each other): a node's start-up waits for one round trip, not thirty.

        The work consumers of every (partition, queue, band); the node's task types
        registered and their registry in view (the type check of every task); the nodes
        bucket of the adverts; the repair sweeper's lease bucket. The cancel memory replays
        meanwhile, and after: a node starts no task unclaimed before it is live (see
        store/cancels.py).
        """
        js = stores.js
        if self.options.claim_after_s > 0:
            self._cancels = CancelMemory(js, memory_s=self.topology.cancel_memory_s)
            self._cancels.begin()  # not waited for: until it is live, tasks are claimed first
        partitions = range(self.topology.partitions)
        try:
            async with asyncio.TaskGroup() as steps:
                for queue in self.queues:
                    steps.create_task(
                        ensure_work_consumers(
                            js, queue, lease_s=self.options.lease_s, partitions=partitions
                        )
                    )
                steps.create_task(register_node_types(js, self.registry))
                nodes_kv = steps.create_task(js.key_value(wire.NODES_BUCKET))
                sweeper = steps.create_task(repair_sweeper(stores, self.node_id, self.options))
        except ExceptionGroup as failed:  # why the node cannot start, as the step raised it
            if self._cancels is not None:
                await self._cancels.stop()
            raise failed.exceptions[0] from None
        return nodes_kv.result(), sweeper.result()

    async def _serve(self, stores: Stores) -> None:
        nc = stores.nc
        store, events, batches = stores.tasks, stores.events, stores.batches
        nodes_kv, sweeper = await self._prepare(stores)
        self.repair_sweeper = sweeper
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.options.thread_pool_size, thread_name_prefix="prsm-handler"
        )
        # what handlers log: a publisher of its own (an ack confirms one stream's batch)
        log_publisher = EventPublisher(nc, subject_of=chunk_subject_of)
        await log_publisher.start()
        self._deps = self._runner_deps(store, events, batches, executor, log_publisher)
        self._deps.checkpoints = Checkpointer(
            node_id=self.node_id,
            store=store,
            checkpoints=CheckpointStore(stores.js),
            claims=self._deps.claims,
            max_bytes=self.options.max_checkpoint_bytes,
            max_payload=nc.max_payload,
        )
        lease_keeper = LeaseKeeper(self._attempts, self.options)
        advertiser = Advertiser(
            kv=nodes_kv,
            build_ad=self.advert,
            interval_s=self.options.advert_interval_s,
        )
        self._intake = Intake(
            nc=nc,
            queues=self.queues,
            partitions=self.topology.partitions,
            free_slots=self.free_slots,
            dispatch=self._dispatch,
            starvation_age_s=self.options.starvation_age_s,
            park_s=self.options.park_s,
        )
        cancel_sub = await nc.subscribe(f"{wire.CANCEL_PREFIX}.*", cb=self._on_cancel)
        try:
            async with asyncio.TaskGroup() as actors, asyncio.TaskGroup() as runners:
                self._runners_tg = runners
                intake_task = actors.create_task(supervise("intake", self._intake.run))
                self.timer_actor = self._timer_actor(stores)
                runs = {
                    "advertiser": advertiser.run,
                    "lease_keeper": lease_keeper.run,
                    "progress_pump": self._deps.pump.run,
                    "log_pump": self._log_pump.run,
                    "timers": self.timer_actor.run,
                }
                if sweeper is not None:
                    runs["repair"] = sweeper.run
                loops = {
                    name: actors.create_task(supervise(name, run)) for name, run in runs.items()
                }
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
                if sweeper is not None:
                    sweeper.stop()
                await stop_actors(loops)  # no repair pass under way while its lease goes
                if sweeper is not None:
                    await sweeper.give_up()
        finally:
            await log_publisher.stop()  # flushes what the runners' last lines queued
            await cancel_sub.unsubscribe()
            if self._cancels is not None:
                await self._cancels.stop()
            executor.shutdown(wait=False, cancel_futures=True)

    def _timer_actor(self, stores: Stores) -> TimerActor:
        delayed = stores.writer.delayed
        assert delayed is not None  # the stores' writer has its timers (store/batches.py)
        self.timer_handlers.register(TIMER_KIND, delayed.on_fire)
        type_check = self.registry.type_check
        types = type_check.index if isinstance(type_check, NodeTypeCheck) else TypeIndex()
        fires: list[Any] = []

        async def on_schedule_fire(fire: Fire) -> float | None:
            # imported at the first fire: the run-making path pulls in the service layer,
            # which a node that never sees a schedule should not pay for at start
            if not fires:
                from prsm_tasks.actors.schedule_fires import ScheduleFires

                fires.append(ScheduleFires(stores.js, stores.writer, delayed.timers, types))
            return await fires[0].on_fire(fire)

        waits: list[Any] = []

        async def on_schedule_wait(fire: Fire) -> float | None:
            if not waits:  # held runs of schedules with dependencies: imported at first use
                from prsm_tasks.actors.schedule_fires import ScheduleFires
                from prsm_tasks.actors.schedule_waits import ScheduleWaits

                if not fires:
                    fires.append(ScheduleFires(stores.js, stores.writer, delayed.timers, types))
                waits.append(ScheduleWaits(fires[0]))
            return await waits[0].on_fire(fire)

        self.timer_handlers.register(SCHEDULE_TIMER_KIND, on_schedule_fire)
        self.timer_handlers.register(SCHEDULE_WAIT_TIMER_KIND, on_schedule_wait)
        return TimerActor(delayed.timers, self.timer_handlers, ack_wait_s=self.options.lease_s)

    def _attempts(self) -> Iterator[Attempt]:
        return (runner.attempt for runner in self.running.values())

    def _runner_deps(
        self,
        store: TaskStore,
        events: EventPublisher,
        batches: BatchCoordinator,
        executor: concurrent.futures.ThreadPoolExecutor,
        log_publisher: EventPublisher,
    ) -> RunnerDeps:
        """The parts every runner of this node is composed with."""
        options = self.options
        self._log_pump = LogPump(
            events=events,
            logs=log_publisher,
            node_id=self.node_id,
            max_lines=options.logs_max_lines,
            max_line_bytes=options.logs_max_line_bytes,
        )
        announcer = Announcer(
            events,
            after_final=self._after_final_hooks(batches),
            all_final=self.after_final is not None,
            logs=self._log_pump,
            after_start=batches.writer.graph.after_start,
        )
        claims = Claims(
            node_id=self.node_id,
            store=store,
            announcer=announcer,
            cancels=self._cancels,
            claim_after_s=options.claim_after_s,
            lease_s=options.lease_s,
        )
        outcomes = Outcomes(
            store=store, claims=claims, announcer=announcer, options=options, counters=self.counters
        )
        return RunnerDeps(
            node_id=self.node_id,
            options=options,
            store=store,
            registry=self.registry,
            executor=executor,
            running=self.running,
            claims=claims,
            outcomes=outcomes,
            announcer=announcer,
            pump=ProgressPump(options),
            logs=self._log_pump,
            meter=Meter(options.metering) if options.metering.enabled else None,
        )

    async def _shut_down(
        self, intake_task: asyncio.Task[None], advertiser: Advertiser, events: EventPublisher
    ) -> None:
        grace_s = self.options.grace_s
        log.info("node_stopping", in_flight=self._in_flight, grace_s=grace_s)
        assert self._intake is not None
        self._intake.stop()
        await intake_task
        try:
            async with asyncio.timeout(grace_s):
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
            await runner.run()  # a shutdown's cancellation hands its task back in there
        except Exception as exc:  # a bug or NATS away mid-claim: the lease lapses, a peer retries
            log.error("runner_crashed", task_id=runner.task_id, error=repr(exc), exc_info=True)
        finally:
            self._runner_tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
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
        self.disconnects += 1
        if self._cancels is not None:
            self._cancels.disconnected()  # cancels may pass us by: claim every task first

    def _after_final_hooks(
        self, batches: BatchCoordinator
    ) -> Callable[[TaskRecord], Awaitable[None]]:
        """Batches and task graphs first (they let the next tasks go), then the caller's."""
        extra = self.after_final

        async def after_final(record: TaskRecord) -> None:
            await batches.after_final_all(record)
            if extra is not None:
                await extra(record)

        return after_final

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
