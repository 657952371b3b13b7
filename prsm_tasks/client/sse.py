"""A small Server-Sent Events reader over aiohttp, for clients of the edge's event streams.

It yields ``(event_id, event_name, data)`` per message, skips ``:`` comments (heartbeats) and
reconnects with ``Last-Event-ID`` after a dropped connection, as a browser's EventSource does,
and after a ``replay_truncated`` message (the edge replays a bounded part of a long history
per connection). A ``204 No Content`` answer ends the stream: the server says there is
nothing more to send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
import structlog

from prsm_tasks.errors import (
    ForbiddenError,
    NotFoundError,
    PrsmError,
    ServiceUnavailableError,
    UnauthorizedError,
)

log = structlog.get_logger("prsm.client.sse")

STATUS_ERRORS: dict[int, type[PrsmError]] = {
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
}


# the edge ends a stream with this message when one connection's replay bound is reached
TRUNCATED_EVENT = "replay_truncated"


@dataclass(frozen=True)
class SseMessage:
    id: str | None
    event: str
    data: str


async def read_messages(response: aiohttp.ClientResponse) -> AsyncIterator[SseMessage]:
    """Parse one response body into messages (the text/event-stream format)."""
    event_id: str | None = None
    event = "message"
    data: list[str] = []
    async for raw_line in response.content:
        line = raw_line.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield SseMessage(event_id, event, "\n".join(data))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue  # a comment: the server's heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            event_id = value


async def follow(
    session: aiohttp.ClientSession,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    last_event_id: str | None = None,
    reconnects: int = 20,
    retry_s: float = 0.5,
) -> AsyncIterator[SseMessage]:
    """Messages of ``url`` across reconnects; ends when the server ends the stream cleanly
    (one that ends with ``replay_truncated`` goes on at once on a new connection)."""
    failures = 0
    while True:
        request_headers = {"Accept": "text/event-stream", **(headers or {})}
        if last_event_id is not None:
            request_headers["Last-Event-ID"] = last_event_id
        try:
            async with session.get(
                url, headers=request_headers, timeout=aiohttp.ClientTimeout(sock_read=None)
            ) as response:
                if response.status == 204:
                    return
                if response.status >= 400:
                    body = await response.text()
                    error = STATUS_ERRORS.get(response.status, PrsmError)
                    raise error(f"{url} answered {response.status}: {body[:300]}")
                truncated = False
                async for message in read_messages(response):
                    failures = 0
                    if message.id is not None:
                        last_event_id = message.id
                    truncated = message.event == TRUNCATED_EVENT
                    yield message
                if not truncated:
                    return  # the server closed the stream after its last event
                # the server's bound on one connection's replay: the rest on the next one
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            failures += 1
            if failures > reconnects:
                raise ServiceUnavailableError(f"event stream {url} keeps failing: {exc!r}") from exc
            log.info("sse_reconnecting", url=url, last_event_id=last_event_id, error=repr(exc))
            await asyncio.sleep(retry_s)
