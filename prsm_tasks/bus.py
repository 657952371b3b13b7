"""Connecting to NATS, creating the JetStream topology, and mapping NATS errors.

NATS exceptions stop here and in ``store/``: callers above see only the PrsmError tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
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
from prsm_tasks.errors import ServiceUnavailableError
from prsm_tasks.models import BANDS_HIGH_TO_LOW, Band
from prsm_tasks.nats_auth import CredentialsRefusedError, NatsAuth, is_auth_refusal, redact_url

if TYPE_CHECKING:
    from prsm_tasks.config import Settings

log = structlog.get_logger("prsm.bus")

# nats-server's JetStream API error codes we act upon
ERR_WRONG_LAST_SEQUENCE = 10071
ERR_STREAM_NAME_IN_USE = 10058

NATS_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.TimeoutError,
    nats.errors.StaleConnectionError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    asyncio.TimeoutError,
    OSError,
)


class Backoff:
    """Pauses that double from ``first_s`` up to ``max_s``, for riding out NATS being away
    (a reconnect, a restarted server) within ``patience_s``."""

    def __init__(
        self, *, patience_s: float = math.inf, first_s: float = 0.1, max_s: float = 2.0
    ) -> None:
        self._deadline = time.monotonic() + patience_s
        self._delay_s = first_s
        self._max_s = max_s
        self.paused = False  # an earlier try failed (and may have done its work anyway)

    @property
    def exhausted(self) -> bool:
        return time.monotonic() > self._deadline

    async def pause(self) -> None:
        self.paused = True
        await asyncio.sleep(self._delay_s)
        self._delay_s = min(self._max_s, self._delay_s * 2)


@contextlib.contextmanager
def nats_errors_as_prsm(what: str) -> Any:
    """Translate a NATS transport failure into ServiceUnavailableError at one boundary."""
    try:
        yield
    except NATS_DOWN_ERRORS as exc:
        raise ServiceUnavailableError(f"NATS unavailable while {what}: {exc!r}") from exc


def normalise_servers(servers: str | Sequence[str]) -> list[str]:
    if isinstance(servers, str):
        servers = [part.strip() for part in servers.split(",")]
    urls = [url for url in servers if url]
    if not urls:
        raise ServiceUnavailableError("no NATS server URL given")
    return urls


async def connect(
    servers: str | Sequence[str],
    *,
    name: str,
    connect_timeout_s: float = 5.0,
    on_reconnected: Callable[[], Coroutine[Any, Any, None]] | None = None,
    on_disconnected: Callable[[], None] | None = None,
    internal_subjects_only: bool = False,
    ping_interval_s: float = 120.0,
    auth: NatsAuth | None = None,
) -> GuardedClient:
    """Open a connection that reconnects forever once it has connected.

    ``internal_subjects_only``: every subject this connection uses is built by wire.py from
    checked names (a node's), so nats-py's regex check of each one is skipped: on a node's
    hot path it costs more than the check is worth. Never for connections that take subjects
    or keys from callers.

    ``ping_interval_s``: the library's keep-alive; two unanswered pings make it reconnect.
    """
    urls = normalise_servers(servers)
    opened: list[NatsClient] = []

    async def error_cb(exc: Exception) -> None:
        if not opened and is_auth_refusal(exc):
            # the first connect: wrong or missing credentials do not get better by retrying
            raise CredentialsRefusedError from exc
        log.warning("nats_error", connection=name, error=repr(exc))

    async def disconnected_cb() -> None:
        if on_disconnected is not None:
            on_disconnected()
        if not opened or opened[0].is_closed or opened[0].is_draining:
            log.debug("nats_closed", connection=name)  # our own close: nothing to warn about
        else:
            log.warning("nats_disconnected", connection=name)

    async def reconnected_cb() -> None:
        log.info("nats_reconnected", connection=name)
        if on_reconnected is not None:
            await on_reconnected()

    nc = GuardedClient()
    shown = [redact_url(url) for url in urls]
    try:
        await nc.connect(
            servers=urls,
            name=name,
            connect_timeout=connect_timeout_s,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            allow_reconnect=True,
            error_cb=error_cb,
            disconnected_cb=disconnected_cb,
            reconnected_cb=reconnected_cb,
            pending_size=8 * 1024 * 1024,
            skip_subject_validation=internal_subjects_only,
            ping_interval=ping_interval_s,
            **(auth or NatsAuth()).connect_options(),
        )
    except CredentialsRefusedError as exc:
        await nc.close()
        raise ServiceUnavailableError(
            f"NATS at {shown} refused this connection's credentials: set PRSM_NATS_USER and "
            "PRSM_NATS_PASSWORD (or PRSM_NATS_PASSWORD_FILE), or run in the directory of "
            "`prsm-tasks up` (--data)"
        ) from exc.__cause__
    except NATS_DOWN_ERRORS as exc:
        raise ServiceUnavailableError(f"cannot connect to NATS at {shown}: {exc!r}") from exc
    opened.append(nc)
    return nc


class GuardedClient(NatsClient):
    """nats-py's client, safe from a late PONG, and able to tell whether its reader runs.

    A ``flush(timeout=...)`` that times out leaves its cancelled future among the pings
    waiting for a PONG; when the PONG comes after all (a stall longer than the timeout),
    nats-py 2.x sets a result on it, its reader dies of ``InvalidStateError``, and the
    connection says "connected" while every request times out, until stale-ping detection
    reconnects minutes later. Any flush with a timeout can start it, the library's own
    included. Here a PONG still answers the oldest ping, skipping one whose waiter gave up.
    """

    async def _process_pong(self) -> None:
        if self._pongs:
            future = self._pongs.pop(0)
            if not future.done():  # its flush timed out: this PONG answers nobody
                future.set_result(True)
            self._pongs_received += 1
            self._pings_outstanding = 0

    @property
    def reader_alive(self) -> bool:
        """The task that reads the socket runs (nats-py ends it quietly on a parse error)."""
        task = self._reading_task
        return task is not None and not task.done()

    @property
    def received(self) -> int:
        """Messages and PONGs received so far: it grows while the server answers."""
        return int(self.stats["in_msgs"]) + self._pongs_received

    async def send_ping(self) -> asyncio.Future[bool]:
        """A PING whose future its PONG answers (a caller that gives up just stops looking)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._send_ping(future)
        return future


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


class Requests:
    """Request/reply over one wildcard inbox, one future per request.

    The hot path makes two or three JetStream requests per task; ``nc.request`` costs about
    a third more client CPU per call (its own token, ``wait_for`` task and bookkeeping).
    """

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._prefix = ""
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._next_token = 0
        self._sub: Any = None

    async def start(self) -> Requests:
        self._prefix = self._nc.new_inbox() + "."
        with nats_errors_as_prsm("subscribing to replies"):
            self._sub = await self._nc.subscribe(self._prefix + "*", cb=self._on_reply)
        return self

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(*NATS_DOWN_ERRORS):
                await sub.unsubscribe()

    async def _on_reply(self, msg: Any) -> None:
        future = self._pending.pop(msg.subject[len(self._prefix) :], None)
        if future is None or future.done():
            return
        status = msg.headers.get("Status") if not msg.data and msg.headers else None
        if status is None or status == "404":  # data, or "no such message/key"
            future.set_result(msg.data)
        elif status == "503":
            future.set_exception(nats.errors.NoRespondersError())
        else:  # 408 and the like: the server could not answer, which is not "not found"
            future.set_exception(
                ServiceUnavailableError(
                    f"NATS answered {status} {msg.headers.get('Description', '')}"
                )
            )

    async def request(
        self,
        subject: str,
        payload: bytes,
        *,
        headers: dict[str, str] | None = None,
        timeout_s: float = 10.0,
    ) -> bytes:
        """Send and wait for the reply's data; NATS errors surface as ServiceUnavailableError."""
        self._next_token += 1
        token = str(self._next_token)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending[token] = future
        expire = loop.call_later(timeout_s, _expire, future)
        try:
            await self._nc.publish(subject, payload, reply=self._prefix + token, headers=headers)
            return await future
        except NATS_DOWN_ERRORS as exc:  # inline, not nats_errors_as_prsm: this is hot
            raise ServiceUnavailableError(
                f"NATS unavailable requesting {subject}: {exc!r}"
            ) from exc
        finally:
            expire.cancel()
            self._pending.pop(token, None)


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(nats.errors.TimeoutError())
