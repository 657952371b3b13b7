"""Supervision: an actor that crashes is logged and restarted with backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("prsm.actors")


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    min_backoff_s: float = 0.05,
    max_backoff_s: float = 5.0,
    healthy_after_s: float = 30.0,
) -> None:
    """Run ``run`` until it returns; restart it with exponential backoff when it raises.

    Cancellation passes straight through: the owner of this coroutine decides when it ends.
    """
    loop = asyncio.get_running_loop()
    backoff_s = min_backoff_s
    while True:
        started = loop.time()
        try:
            await run()
            return
        except Exception as exc:  # an actor crashed: keep the node alive, say why, restart
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # its owner is stopping it: an error raised on the way out (a task group's,
                # a library that swallowed the cancel) must not start it again
                raise asyncio.CancelledError from exc
            if loop.time() - started > healthy_after_s:
                backoff_s = min_backoff_s
            log.error(
                "actor_crashed", actor=name, error=repr(exc), restart_in_s=backoff_s, exc_info=True
            )
            await asyncio.sleep(backoff_s)
            backoff_s = min(max_backoff_s, backoff_s * 2)
