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


async def stop_actors(actors: dict[str, asyncio.Task[None]], *, recancel_s: float = 1.0) -> None:
    """Cancel ``actors`` and wait until every one has ended.

    A coroutine that swallows its cancellation (ours by mistake, or a library's wait that
    catches it) would keep its task group, and so the node's stop, waiting for ever: one still
    running after ``recancel_s`` is cancelled again, and named in the log, until it ends.
    """
    names = {task: name for name, task in actors.items()}
    pending = set(actors.values())
    rounds = 0
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=recancel_s)
        rounds += 1
        if pending:
            log.warning("actor_stop_slow", actors=sorted(names[t] for t in pending), rounds=rounds)
