"""The JetStream topology: the streams, buckets and work consumers every process agrees on.

Created idempotently by whoever starts first (nodes, edges, clients); sizes and retention come
from Settings through ``Topology.from_settings``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nats.js.errors
import structlog
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
from prsm_tasks.models import BANDS_HIGH_TO_LOW, Band

if TYPE_CHECKING:
    from prsm_tasks.config import Settings

log = structlog.get_logger("prsm.bus")


@dataclass(frozen=True, kw_only=True)
class Topology:
    """Sizes and retention of the streams and buckets; all of it from Settings."""

    replicas: int = 1
    events_max_age_s: float = 86_400.0
    events_max_bytes: int = 1_073_741_824
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
            events_max_age_s=settings.events_max_age_seconds,
            events_max_bytes=settings.events_max_bytes,
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


async def _add_or_keep_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create a stream unless it exists; safe when several processes start at once."""
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != ERR_STREAM_NAME_IN_USE:
            raise
        # another process created it first (or with other sizes): keep what is there
        await js.stream_info(config.name)


async def _add_or_keep_bucket(js: JetStreamContext, config: KeyValueConfig) -> None:
    try:
        await js.create_key_value(config)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != ERR_STREAM_NAME_IN_USE:
            raise
        await js.key_value(config.bucket)


async def _ensure_work_limits(js: JetStreamContext, topology: Topology) -> None:
    """Bring an existing PRSM_WORK to the limits of ``topology``.

    A stream made before it had limits (unbounded) takes them; one whose limits differ
    takes this process's only when its operator set them explicitly, else every process
    started with the defaults would undo a change: the difference is logged instead.
    Lowering a limit below what the stream holds drops nothing (discard new refuses new
    messages only).
    """
    config = (await js.stream_info(wire.WORK_STREAM)).config
    wanted = (topology.work_max_msgs, topology.work_max_bytes)
    current = (config.max_msgs or -1, config.max_bytes or -1)
    if current == wanted:
        return
    if not topology.work_limits_explicit and current != (-1, -1):
        log.warning(
            "work_stream_limits_differ",
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
    log.info("work_stream_limits_set", max_messages=wanted[0], max_bytes=wanted[1])


async def _allow_message_ttl(js: JetStreamContext, bucket: str) -> None:
    """A bucket made before per-message TTLs (older servers or clients) gets them: batch
    records expire with their tasks by one."""
    config = (await js.stream_info(f"KV_{bucket}")).config
    if not config.allow_msg_ttl:
        config.allow_msg_ttl = True
        await js.update_stream(config)
        log.info("bucket_message_ttl_allowed", bucket=bucket)


async def ensure_topology(js: JetStreamContext, topology: Topology) -> None:
    """Idempotently create PRSM_WORK, PRSM_EVENTS and the KV buckets (tasks, nodes, batches,
    task types, idempotency keys, cancels of queued tasks, shared secrets, leases)."""
    with nats_errors_as_prsm("creating the topology"):
        await _add_or_keep_stream(
            js,
            StreamConfig(
                name=wire.WORK_STREAM,
                subjects=[f"{wire.WORK_PREFIX}.>"],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
                num_replicas=topology.replicas,
                duplicate_window=topology.duplicate_window_s,
                discard=DiscardPolicy.NEW,
                max_msgs=topology.work_max_msgs,
                max_bytes=topology.work_max_bytes,
            ),
        )
        await _ensure_work_limits(js, topology)
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
        # bucket -> TTL of its keys (None: kept until deleted)
        buckets: dict[str, float | None] = {
            wire.TASKS_BUCKET: None,
            wire.NODES_BUCKET: topology.node_ttl_s,
            wire.BATCHES_BUCKET: None,
            wire.TYPES_BUCKET: None,
            wire.IDEMPOTENCY_BUCKET: topology.idempotency_ttl_s,
            wire.CANCELS_BUCKET: topology.cancel_memory_s,
            wire.KEYS_BUCKET: None,
            wire.LEASES_BUCKET: None,
        }
        for bucket, ttl_s in buckets.items():
            markers = bucket == wire.TASKS_BUCKET and topology.finished_task_ttl_s > 0
            await _add_or_keep_bucket(
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
        await _allow_message_ttl(js, wire.BATCHES_BUCKET)


async def ensure_work_consumers(
    js: JetStreamContext,
    queue: str,
    *,
    lease_s: float,
    idle_s: float | None = None,
    bands: Sequence[Band] = BANDS_HIGH_TO_LOW,
) -> None:
    """One durable pull consumer per (queue, band), shared by every peer serving the queue.

    ``max_deliver`` is unlimited: attempts are counted in the task record, which also knows
    ``max_retries``; the server's own counter would dead-letter without telling anyone.
    ``idle_s`` (an external claim's consumers): the server removes a consumer after this
    long without a pull while it holds no unacknowledged message; a peer node's own call
    (no ``idle_s``) makes them permanent again.
    """
    with nats_errors_as_prsm(f"creating consumers of {queue}"):
        for band in bands:
            await js.add_consumer(
                wire.WORK_STREAM,
                ConsumerConfig(
                    durable_name=wire.work_consumer(queue, band),
                    filter_subject=wire.work_subject(queue, band),
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=lease_s,
                    max_deliver=-1,
                    max_ack_pending=-1,
                    max_waiting=4096,
                    inactive_threshold=idle_s,
                ),
            )
