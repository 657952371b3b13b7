"""The JetStream topology: the streams, buckets and work consumers every process agrees on.

Created idempotently by whoever starts first (nodes, edges, clients); sizes and retention come
from Settings through ``Topology.from_settings``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from prsm_tasks import wire
from prsm_tasks.bus import ERR_STREAM_NAME_IN_USE, nats_errors_as_prsm
from prsm_tasks.errors import TopologyMismatchError
from prsm_tasks.models import BANDS_HIGH_TO_LOW, Band

if TYPE_CHECKING:
    from prsm_tasks.config import Settings

log = structlog.get_logger("prsm.bus")


@dataclass(frozen=True, kw_only=True)
class Topology:
    """Sizes and retention of the streams and buckets; all of it from Settings."""

    replicas: int = 1
    # work streams and task buckets the tasks are spread over (see wire.partition_of)
    partitions: int = 1
    events_max_age_s: float = 86_400.0
    events_max_bytes: int = 1_073_741_824
    # PRSM_LOGS' retention; ``logs_limits_explicit``: set for this process, so applied to an
    # existing stream (as the work limits are)
    logs_max_age_s: float = 7 * 86_400.0
    logs_max_bytes: int = 1_073_741_824
    logs_limits_explicit: bool = False
    node_ttl_s: float = 10.0
    idempotency_ttl_s: float = 86_400.0
    duplicate_window_s: float = 120.0
    # a final task record expires this long after it was written (0: kept for ever); its
    # removal leaves a delete marker for this long, so watchers (edge views) drop it too
    finished_task_ttl_s: float = 7 * 86_400.0
    delete_marker_ttl_s: float = 600.0
    # how long a cancel of a queued task is remembered by nodes (see store/cancels.py)
    cancel_memory_s: float = 3600.0
    # PRSM_WORK's size (discard new: a full stream refuses publishes); ``work_limits_explicit``:
    # the operator set them for this process, so they replace what an existing stream has
    work_max_msgs: int = 1_000_000
    work_max_bytes: int = 4 * 1_073_741_824
    work_limits_explicit: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Topology:
        return cls(
            replicas=settings.replicas,
            partitions=settings.partitions,
            events_max_age_s=settings.events_max_age_seconds,
            events_max_bytes=settings.events_max_bytes,
            logs_max_age_s=settings.logs_max_age_seconds,
            logs_max_bytes=settings.logs_max_bytes,
            logs_limits_explicit=bool(
                {"logs_max_age_seconds", "logs_max_bytes"} & settings.model_fields_set
            ),
            # an advert outlives a few missed intervals, never less than the default
            node_ttl_s=max(10.0, settings.advert_interval_seconds * 4),
            idempotency_ttl_s=settings.idempotency_ttl_seconds,
            finished_task_ttl_s=settings.finished_task_retention_seconds,
            work_max_msgs=settings.work_max_messages,
            work_max_bytes=settings.work_max_bytes,
            work_limits_explicit=bool(
                {"work_max_messages", "work_max_bytes"} & settings.model_fields_set
            ),
        )


async def _add_or_keep_stream(js: JetStreamContext, config: StreamConfig) -> StreamConfig:
    """The stream's configuration as the server has it, the stream created if missing.

    Every process start comes here, and the streams almost always exist: one info request
    (read-only, answered by the stream's leader) is all that costs; a create goes out only
    for a missing stream. Several processes creating it at once: all keep what the first
    made, as with one that exists with other sizes.
    """
    try:
        return (await js.stream_info(config.name)).config
    except nats.js.errors.NotFoundError:
        pass
    try:
        return (await js.add_stream(config)).config
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != ERR_STREAM_NAME_IN_USE:
            raise
        return (await js.stream_info(config.name)).config


async def _add_or_keep_bucket(js: JetStreamContext, config: KeyValueConfig) -> StreamConfig:
    """The bucket's stream configuration, the bucket created if missing (as streams are)."""
    stream = f"KV_{config.bucket}"
    try:
        return (await js.stream_info(stream)).config
    except nats.js.errors.NotFoundError:
        pass
    try:
        await js.create_key_value(config)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != ERR_STREAM_NAME_IN_USE:
            raise
    return (await js.stream_info(stream)).config


async def _ensure_work_limits(
    js: JetStreamContext, topology: Topology, config: StreamConfig
) -> None:
    """Bring an existing work stream (PRSM_WORK or a partition's) to the limits of ``topology``.

    A stream made before it had limits (unbounded) takes them; one whose limits differ
    takes this process's only when its operator set them explicitly, else every process
    started with the defaults would undo a change: the difference is logged instead.
    Lowering a limit below what the stream holds drops nothing (discard new refuses new
    messages only).
    """
    stream = config.name
    wanted = (topology.work_max_msgs, topology.work_max_bytes)
    current = (config.max_msgs or -1, config.max_bytes or -1)
    if current == wanted:
        return
    if not topology.work_limits_explicit and current != (-1, -1):
        log.warning(
            "work_stream_limits_differ",
            stream=stream,
            stream_max_messages=current[0],
            stream_max_bytes=current[1],
            settings_max_messages=wanted[0],
            settings_max_bytes=wanted[1],
            hint="set PRSM_WORK_MAX_MESSAGES and PRSM_WORK_MAX_BYTES on a process to apply them",
        )
        return
    config.max_msgs, config.max_bytes = wanted
    config.discard = DiscardPolicy.NEW
    await js.update_stream(config)
    log.info("work_stream_limits_set", stream=stream, max_messages=wanted[0], max_bytes=wanted[1])


async def _allow_message_ttl(js: JetStreamContext, bucket: str, config: StreamConfig) -> None:
    """A bucket made before per-message TTLs (older servers or clients) gets them: batch
    records expire with their tasks by one."""
    if not config.allow_msg_ttl:
        config.allow_msg_ttl = True
        await js.update_stream(config)
        log.info("bucket_message_ttl_allowed", bucket=bucket)


async def _stream_holds_messages(js: JetStreamContext, stream: str) -> bool:
    try:
        return (await js.stream_info(stream)).state.messages > 0
    except nats.js.errors.NotFoundError:
        return False


async def agree_partitions(js: JetStreamContext, topology: Topology) -> int:
    """Record the deployment's partitions (the first process does), or check this process
    has the recorded number; TopologyMismatchError when it has not.

    ``kv.create`` lets exactly one of several processes starting at once record its value;
    every other one reads it. A deployment that predates the record and holds tasks was
    one partition: a process with more would look for most of its tasks in the wrong place.
    """
    await _add_or_keep_bucket(
        js,
        KeyValueConfig(
            bucket=wire.META_BUCKET,
            history=1,
            storage=StorageType.FILE,
            replicas=topology.replicas,
            direct=True,
        ),
    )
    kv = await js.key_value(wire.META_BUCKET)
    wanted = topology.partitions
    try:
        entry = await kv.get(wire.PARTITIONS_KEY)
        recorded = int(entry.value or b"0")
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
        recorded = 0
    if recorded == 0:
        if wanted != 1 and await _stream_holds_messages(js, wire.tasks_stream()):
            recorded = 1  # tasks written before partitions were recorded: one partition
        else:
            try:
                await kv.create(wire.PARTITIONS_KEY, str(wanted).encode())
                recorded = wanted
                log.info("partitions_recorded", partitions=wanted)
            except nats.js.errors.KeyWrongLastSequenceError:
                # another process recorded its value first: that one stands
                recorded = int((await kv.get(wire.PARTITIONS_KEY)).value or b"0")
    if recorded != wanted:
        raise TopologyMismatchError(
            f"this process has PRSM_PARTITIONS={wanted} but the deployment was set up with "
            f"{recorded} partition(s); start it with PRSM_PARTITIONS={recorded} "
            f"(Topology(partitions={recorded}) in a program): the number of partitions of a "
            "deployment cannot be changed",
            configured=wanted,
            recorded=recorded,
        )
    return recorded


async def _ensure_work_stream(js: JetStreamContext, topology: Topology, partition: int) -> None:
    config = await _add_or_keep_stream(
        js,
        StreamConfig(
            name=wire.work_stream(partition),
            subjects=[f"{wire.work_prefix(partition)}.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            num_replicas=topology.replicas,
            duplicate_window=topology.duplicate_window_s,
            discard=DiscardPolicy.NEW,
            max_msgs=topology.work_max_msgs,
            max_bytes=topology.work_max_bytes,
        ),
    )
    await _ensure_work_limits(js, topology, config)


def timers_stream_config(topology: Topology) -> StreamConfig:
    """PRSM_TIMERS: the server's own timers (store/timers.py). Work-queue retention: a fire
    acknowledged by the node that handled it is gone, a pending timer stays until it fires."""
    return StreamConfig(
        name=wire.TIMERS_STREAM,
        subjects=[f"{wire.TIMERS_PREFIX}.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        num_replicas=topology.replicas,
        duplicate_window=topology.duplicate_window_s,
        allow_msg_schedules=True,
    )


async def _ensure_logs_stream(js: JetStreamContext, topology: Topology) -> None:
    """PRSM_LOGS: handlers' log lines, one message per attempt's flush, read back by subject
    with direct gets. An existing stream takes this process's retention only when its
    operator set it (as the work limits): a process started with the defaults undoes
    nothing."""
    config = await _add_or_keep_stream(
        js,
        StreamConfig(
            name=wire.LOGS_STREAM,
            subjects=[f"{wire.LOGS_PREFIX}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=topology.replicas,
            max_age=topology.logs_max_age_s,
            max_bytes=topology.logs_max_bytes,
            duplicate_window=topology.duplicate_window_s,
            discard=DiscardPolicy.OLD,
            allow_direct=True,
        ),
    )
    wanted = (topology.logs_max_age_s, topology.logs_max_bytes)
    if not topology.logs_limits_explicit or (config.max_age, config.max_bytes) == wanted:
        return
    config.max_age, config.max_bytes = wanted
    await js.update_stream(config)
    log.info("logs_stream_limits_set", max_age_s=wanted[0], max_bytes=wanted[1])


async def ensure_topology(js: JetStreamContext, topology: Topology) -> None:
    """Idempotently create the work streams, PRSM_EVENTS and the KV buckets (tasks, nodes,
    batches, task types, idempotency keys, cancels of queued tasks, shared secrets, leases,
    schedules, checkpoints), after checking this process agrees with the deployment's partitions."""
    with nats_errors_as_prsm("creating the topology"):
        await agree_partitions(js, topology)
        for partition in range(topology.partitions):
            await _ensure_work_stream(js, topology, partition)
        await _add_or_keep_stream(
            js,
            StreamConfig(
                name=wire.EVENTS_STREAM,
                subjects=[f"{wire.EVENTS_PREFIX}.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                num_replicas=topology.replicas,
                max_age=topology.events_max_age_s,
                max_bytes=topology.events_max_bytes,
                duplicate_window=topology.duplicate_window_s,
                discard=DiscardPolicy.OLD,
                allow_direct=True,
            ),
        )
        await _add_or_keep_stream(js, timers_stream_config(topology))
        await _ensure_logs_stream(js, topology)
        # bucket -> TTL of its keys (None: kept until deleted)
        buckets: dict[str, float | None] = {
            **{wire.tasks_bucket(p): None for p in range(topology.partitions)},
            wire.NODES_BUCKET: topology.node_ttl_s,
            wire.BATCHES_BUCKET: None,
            wire.TYPES_BUCKET: None,
            wire.IDEMPOTENCY_BUCKET: topology.idempotency_ttl_s,
            wire.CANCELS_BUCKET: topology.cancel_memory_s,
            wire.KEYS_BUCKET: None,
            wire.LEASES_BUCKET: None,
            wire.SCHEDULES_BUCKET: None,
            wire.ALERT_RULES_BUCKET: None,
            wire.ALERTS_BUCKET: None,  # a resolved alert expires by a per-message TTL
            # a checkpoint lives as long as a finished record: from its last write
            wire.CHECKPOINTS_BUCKET: topology.finished_task_ttl_s or None,
        }
        configs: dict[str, StreamConfig] = {}
        for bucket, ttl_s in buckets.items():
            markers = bucket.startswith(wire.TASKS_BUCKET) and topology.finished_task_ttl_s > 0
            configs[bucket] = await _add_or_keep_bucket(
                js,
                KeyValueConfig(
                    bucket=bucket,
                    history=1,
                    ttl=ttl_s,
                    storage=StorageType.FILE,
                    replicas=topology.replicas,
                    direct=True,
                    limit_marker_ttl=topology.delete_marker_ttl_s if markers else None,
                ),
            )
        await _allow_message_ttl(js, wire.BATCHES_BUCKET, configs[wire.BATCHES_BUCKET])
        await _allow_message_ttl(js, wire.ALERTS_BUCKET, configs[wire.ALERTS_BUCKET])


async def ensure_work_consumers(
    js: JetStreamContext,
    queue: str,
    *,
    lease_s: float,
    idle_s: float | None = None,
    bands: Sequence[Band] = BANDS_HIGH_TO_LOW,
    partitions: Sequence[int] = (0,),
) -> None:
    """One durable pull consumer per (queue, band) on the work stream of each of
    ``partitions``, shared by every peer serving the queue.

    ``max_deliver`` is unlimited: attempts are counted in the task record, which also knows
    ``max_retries``; the server's own counter would dead-letter without telling anyone.
    ``idle_s`` (an external claim's consumers): the server removes a consumer after this
    long without a pull while it holds no unacknowledged message; a peer node's own call
    (no ``idle_s``) makes them permanent again.
    """
    consumers = [
        (
            wire.work_stream(partition),
            ConsumerConfig(
                durable_name=wire.work_consumer(queue, band),
                filter_subject=wire.work_subject(queue, band, partition),
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=lease_s,
                max_deliver=-1,
                max_ack_pending=-1,
                max_waiting=4096,
                inactive_threshold=idle_s,
            ),
        )
        for partition in partitions
        for band in bands
    ]
    with nats_errors_as_prsm(f"creating consumers of {queue}"):
        try:  # all at once: one round trip of start-up, not one per (partition, band)
            async with asyncio.TaskGroup() as creating:
                for stream, config in consumers:
                    creating.create_task(js.add_consumer(stream, config))
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None


async def spread_partition_leaders(nc: NatsClient, js: JetStreamContext, topology: Topology) -> int:
    """On a cluster with several partitions, move stream leaders so that each server leads
    about as many partitions' work streams (and, counted apart, task buckets) as any other:
    the server that leads a stream does its writes, so partitions led from one server would
    not spread the load. The server elects leaders at random; a stream whose leader leads
    two more than a peer of it is handed to that peer (a leader step-down naming the
    preferred server). Returns how many moved. Idempotent: a balanced cluster moves none."""
    if topology.replicas <= 1 or topology.partitions <= 1:
        return 0
    partitions = range(topology.partitions)
    moved = 0
    with nats_errors_as_prsm("spreading the partitions' leaders"):
        for names in (
            [wire.work_stream(p) for p in partitions],
            [wire.tasks_stream(p) for p in partitions],
        ):
            moved += await _spread_leaders(nc, js, names)
    return moved


async def _spread_leaders(nc: NatsClient, js: JetStreamContext, names: list[str]) -> int:
    clusters = {name: (await js.stream_info(name)).cluster for name in names}
    led: Counter[str] = Counter()
    for cluster in clusters.values():
        if cluster is not None and cluster.leader:
            led[cluster.leader] += 1
            for peer in cluster.replicas or []:
                led[peer.name or ""] += 0
    moved = 0
    for name, cluster in clusters.items():
        if cluster is None or not cluster.leader:
            continue
        peers = [p.name for p in cluster.replicas or [] if p.name and p.current and not p.offline]
        if not peers:
            continue
        target = min(peers, key=lambda peer: led[peer])
        if led[cluster.leader] - led[target] <= 1:
            continue
        request = json.dumps({"placement": {"preferred": target}}).encode()
        reply = await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{name}", request, timeout=5.0)
        if b'"error"' in reply.data:
            log.info("leader_not_moved", stream=name, to=target, reply=reply.data[:200])
            continue
        log.info("leader_moved", stream=name, source=cluster.leader, to=target)
        led[cluster.leader] -= 1
        led[target] += 1
        moved += 1
    return moved
