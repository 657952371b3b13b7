"""Connecting to NATS, requests over one inbox, and mapping NATS errors (the streams and
buckets themselves: topology.py).

NATS exceptions stop here and in ``store/``: callers above see only the PrsmError tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient

from prsm_tasks import telemetry
from prsm_tasks.errors import ServiceUnavailableError
from prsm_tasks.nats_auth import CredentialsRefusedError, NatsAuth, is_auth_refusal, redact_url

if TYPE_CHECKING:
    pass

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
        telemetry.nats_reconnected()
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

    async def send(
        self,
        subject: str,
        payload: bytes,
        *,
        headers: dict[str, str] | None = None,
        timeout_s: float = 10.0,
    ) -> asyncio.Future[bytes]:
        """Send now and return the reply's future at once: for a reply checked later, off
        the caller's path. It settles like ``request`` (the data, or the error)."""
        self._next_token += 1
        token = str(self._next_token)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending[token] = future
        expire = loop.call_later(timeout_s, _expire, future)

        def settled(_: asyncio.Future[bytes]) -> None:
            expire.cancel()
            self._pending.pop(token, None)

        future.add_done_callback(settled)
        try:
            await self._nc.publish(subject, payload, reply=self._prefix + token, headers=headers)
        except NATS_DOWN_ERRORS as exc:
            future.cancel()
            raise ServiceUnavailableError(f"NATS unavailable sending {subject}: {exc!r}") from exc
        return future


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(nats.errors.TimeoutError())
