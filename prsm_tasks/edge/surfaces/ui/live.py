"""Live rows for the dashboard: task events rendered once, sent to the pages showing them.

One listener on the edge's own event hub serves every dashboard viewer: each event of a
task that some open page shows is rendered to its HTML fragment once, and handed to those
pages' streams, where a newer fragment of the same task replaces an unsent older one (a
slow viewer gets the latest state, never a growing backlog). Events of tasks no page shows
cost a dict lookup. A viewer watches only the rows its page rendered, which the services
already let its caller see, so nothing another caller may not see is ever sent.

The listener runs while at least one viewer is open (the hub decodes every event for it);
the pump that feeds it is owned here and cancelled with the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import structlog

from prsm_tasks.messages import TaskEvent
from prsm_tasks.services.event_hub import EventHub

log = structlog.get_logger("prsm.edge.ui")

STATUS_OF_EVENT = {
    "task_enqueued": "enqueued",
    "task_started": "processing",
    "progress_update": "processing",
    "task_retrying": "enqueued",
    "task_completed": "completed",
    "task_failed": "failed",
    "task_cancelled": "cancelled",
    "task_timeout": "timeout",
}
MAX_WATCHED_PER_VIEWER = 200
PUMP_IDLE_CHECK_S = 5.0

Renderer = Callable[[TaskEvent], str | None]


@dataclass(eq=False)
class Viewer:
    """One open page's stream: the rows it shows, and fragments not yet sent."""

    task_ids: frozenset[str]
    pending: dict[str, str] = field(default_factory=dict)  # task id -> newest fragment
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def offer(self, task_id: str, fragment: str) -> None:
        self.pending[task_id] = fragment
        self.wake.set()

    def take(self) -> dict[str, str]:
        taken, self.pending = self.pending, {}
        self.wake.clear()
        return taken

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class LiveRows:
    def __init__(self, hub: EventHub, render: Renderer) -> None:
        self._hub = hub
        self._render = render
        self._watchers: dict[str, set[Viewer]] = {}
        self._viewers: set[Viewer] = set()
        self._pump: asyncio.Task[None] | None = None
        self.rendered = 0

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    @contextlib.asynccontextmanager
    async def watch(self, task_ids: frozenset[str]) -> AsyncIterator[Viewer]:
        viewer = Viewer(task_ids=frozenset(list(task_ids)[:MAX_WATCHED_PER_VIEWER]))
        self._viewers.add(viewer)
        for task_id in viewer.task_ids:
            self._watchers.setdefault(task_id, set()).add(viewer)
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run_pump(), name="ui-live-rows")
        try:
            yield viewer
        finally:
            self._viewers.discard(viewer)
            for task_id in viewer.task_ids:
                group = self._watchers.get(task_id)
                if group is not None:
                    group.discard(viewer)
                    if not group:
                        del self._watchers[task_id]

    async def close(self) -> None:
        for viewer in list(self._viewers):
            viewer.close()
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _run_pump(self) -> None:
        """Hand events to viewers while any is open; end when the last one has gone."""
        async with self._hub.listen(task_id=None) as listener:
            while self._viewers and not listener.closed:
                try:
                    async with asyncio.timeout(PUMP_IDLE_CHECK_S):
                        event = await listener.events.get()
                except TimeoutError:
                    continue
                if listener.lagging:  # rows are current again at the next event of each
                    listener.drain()
                    listener.lagging = False
                self._dispatch(event)

    def _dispatch(self, event: TaskEvent) -> None:
        targets = self._watchers.get(getattr(event, "task_id", ""))
        if not targets:
            return
        fragment = self._render(event)
        if fragment is None:
            return
        self.rendered += 1
        for viewer in targets:
            viewer.offer(event.task_id, fragment)
