"""``prsm-tasks watch``: a person at a terminal following a task, or a queue, live.

The events come from either feed, and look the same: NATS (``Client.events``) or an edge's
Server-Sent Events (``/tasks/{id}/events``, ``/events?queue_name=…``). On a terminal the task
watch is a rich progress bar (text, attempt, node, elapsed) and the queue watch a live table;
elsewhere (a pipe, a log) each event is one plain line. ``watch_task`` returns the exit code:
0 for completed, 1 for failed, timeout or cancelled.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn
from rich.progress import Task as BarTask
from rich.table import Table
from rich.text import Text

from prsm_tasks.client.native import Client
from prsm_tasks.client.sse import follow
from prsm_tasks.errors import ServiceUnavailableError
from prsm_tasks.messages import TaskEvent

QUEUE_REPLAY_S = 600.0  # the queue watch starts from the events of the last ten minutes
FINISHED_ROW_S = 5.0  # a finished task stays in the queue table this long
STATUS_OF_EVENT = {
    "task_enqueued": "enqueued",
    "task_started": "processing",
    "progress_update": "processing",
    "task_retrying": "retrying",
    "task_completed": "completed",
    "task_failed": "failed",
    "task_cancelled": "cancelled",
    "task_timeout": "timeout",
}
STATUS_STYLE = {"completed": "green", "failed": "red", "timeout": "red", "cancelled": "yellow"}


class EventFeed(Protocol):
    def task_events(self, task_id: str) -> AsyncIterator[TaskEvent]: ...

    def queue_events(self, queue: str) -> AsyncIterator[TaskEvent]: ...


class NatsFeed:
    def __init__(self, client: Client) -> None:
        self.client = client

    def task_events(self, task_id: str) -> AsyncIterator[TaskEvent]:
        return self.client.events(task_id=task_id)

    def queue_events(self, queue: str) -> AsyncIterator[TaskEvent]:
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=QUEUE_REPLAY_S)
        return self.client.events(queue=queue, since=since)


class EdgeFeed:
    """Events over SSE from an edge node (Bearer token, as every other API call)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def _events(self, url: str, *, until_final: bool) -> AsyncIterator[TaskEvent]:
        last_id: str | None = None
        for _ in range(20):  # the stream closed without a final event: resume where it was
            async for message in follow(
                self.session, url, headers=self.headers, last_event_id=last_id
            ):
                if message.event not in ("task_event", "task_log"):
                    continue
                last_id = message.id
                seq = int(message.id) if message.id and message.id.isdigit() else None
                event = TaskEvent.from_public(json.loads(message.data), seq=seq)
                yield event
                if until_final and event.is_final:
                    return
            if not until_final or last_id is None:
                return
        raise ServiceUnavailableError(f"event stream {url} ended early again and again")

    def task_events(self, task_id: str) -> AsyncIterator[TaskEvent]:
        return self._events(f"{self.url}/tasks/{quote(task_id)}/events", until_final=True)

    def queue_events(self, queue: str) -> AsyncIterator[TaskEvent]:
        return self._events(f"{self.url}/events?queue_name={quote(queue)}", until_final=False)


@dataclass
class TaskState:
    """What the watch knows of one task, folded from its events."""

    task_id: str
    queue: str = ""
    status: str = "enqueued"
    value: float | None = None
    text: str | None = None
    attempt: int = 0
    node: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    final: TaskEvent | None = None
    seen_at: float = field(default_factory=time.monotonic)

    def apply(self, event: TaskEvent) -> None:
        self.queue = event.queue_name
        if event.event_type == "task_log":
            return  # printed as they come (see log_lines); the state is unchanged
        self.status = STATUS_OF_EVENT[event.event_type]
        self.attempt = event.attempt or self.attempt
        self.node = event.worker_node or self.node
        self.seen_at = time.monotonic()
        if event.event_type == "task_started":
            self.started_at = event.timestamp
            self.value, self.text, self.ended_at = 0.0, None, None
        elif event.event_type == "progress_update":
            if event.data.get("value") is not None:
                self.value = float(event.data["value"])
            if event.data.get("text") is not None:
                self.text = str(event.data["text"])
        elif event.is_final:
            self.final = event
            self.ended_at = event.timestamp
            if event.event_type == "task_completed":
                self.value = 1.0

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        return max(0.0, (self.ended_at or time.time()) - self.started_at)


def format_elapsed(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ElapsedColumn(ProgressColumn):
    """Elapsed since the task started on its node (not since the watch began)."""

    def __init__(self, state: TaskState) -> None:
        super().__init__()
        self.state = state

    def render(self, task: BarTask) -> Text:
        return Text(format_elapsed(self.state.elapsed_s), style="cyan")


def exit_code(state: TaskState) -> int:
    return 0 if state.status == "completed" else 1


def outcome_line(state: TaskState) -> str:
    data: dict[str, Any] = state.final.data if state.final is not None else {}
    detail = data.get("result") if state.status == "completed" else data.get("error")
    return f"{state.task_id} {state.status}: {json.dumps(detail, default=str)}"


def log_lines(event: TaskEvent) -> list[str]:
    """A ``task_log`` event's lines as a person reads them: time, attempt, level, message."""
    lines = event.data.get("lines") or []
    return [
        f"{line.get('timestamp')} attempt={event.attempt} {line.get('level')} {line.get('message')}"
        for line in lines
        if isinstance(line, dict)
    ]


def plain_line(event: TaskEvent) -> str:
    if event.event_type == "task_log":
        return "\n".join(f"task_log {line}" for line in log_lines(event))
    data = " ".join(f"{key}={value}" for key, value in event.data.items())
    return (
        f"{event.public_dict()['timestamp']} {event.event_type} attempt={event.attempt} "
        f"node={event.worker_node or '-'} {data}".rstrip()
    )


async def watch_task(feed: EventFeed, task_id: str, console: Console) -> int:
    state = TaskState(task_id)
    if not console.is_terminal:
        async for event in feed.task_events(task_id):
            state.apply(event)
            console.print(plain_line(event), markup=False, highlight=False, soft_wrap=True)
        return _finish(state, console)
    progress = Progress(
        TextColumn("[bold]{task.fields[status]}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.description}"),
        TextColumn("attempt {task.fields[attempt]}"),
        TextColumn("{task.fields[node]}", style="dim"),
        ElapsedColumn(state),
        console=console,
        transient=False,
    )
    with progress:
        bar = progress.add_task(task_id, total=1.0, status="waiting", attempt=0, node="-")
        async for event in feed.task_events(task_id):
            state.apply(event)
            for line in log_lines(event):  # above the bar, which stays at the bottom
                progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
            progress.update(
                bar,
                completed=state.value or 0.0,
                description=state.text or task_id,
                status=state.status,
                attempt=state.attempt,
                node=state.node or "-",
            )
    return _finish(state, console)


def _finish(state: TaskState, console: Console) -> int:
    if state.final is None:
        console.print(f"{state.task_id}: the event stream ended before the task did")
        return 2
    style = STATUS_STYLE.get(state.status, "")
    console.print(Text(outcome_line(state), style=style))
    return exit_code(state)


def queue_table(queue: str, states: dict[str, TaskState]) -> Table:
    table = Table(title=f"queue {queue}", expand=True)
    for column in ("task", "status", "progress", "text", "attempt", "node", "elapsed"):
        table.add_column(column, no_wrap=column != "text")
    for state in sorted(states.values(), key=lambda s: (s.final is not None, s.task_id)):
        percent = "-" if state.value is None else f"{state.value:4.0%}"
        table.add_row(
            state.task_id,
            Text(state.status, style=STATUS_STYLE.get(state.status, "")),
            percent,
            state.text or "",
            str(state.attempt),
            state.node or "-",
            format_elapsed(state.elapsed_s),
        )
    return table


def _prune(states: dict[str, TaskState]) -> None:
    now = time.monotonic()
    for task_id in [
        task_id
        for task_id, state in states.items()
        if state.final is not None and now - state.seen_at > FINISHED_ROW_S
    ]:
        del states[task_id]


class QueueView:
    """Rendered afresh at every refresh of the Live display, so elapsed times tick."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.states: dict[str, TaskState] = {}

    def apply(self, event: TaskEvent) -> None:
        state = self.states.setdefault(event.task_id, TaskState(event.task_id))
        state.apply(event)
        if event.is_final:
            # replayed history of long-finished tasks does not belong in a live table
            state.seen_at = time.monotonic() - max(0.0, time.time() - event.timestamp)

    def __rich__(self) -> Table:
        _prune(self.states)
        return queue_table(self.queue, self.states)


async def watch_queue(feed: EventFeed, queue: str, console: Console) -> int:
    """Runs until interrupted; tasks appear with their first event and leave once final."""
    if not console.is_terminal:
        async for event in feed.queue_events(queue):
            for line in plain_line(event).splitlines():
                console.print(f"{event.task_id} {line}", markup=False, highlight=False)
        return 0
    view = QueueView(queue)
    with Live(view, console=console, refresh_per_second=4):
        async for event in feed.queue_events(queue):
            view.apply(event)
    return 0


@contextlib.asynccontextmanager
async def open_edge_feed(url: str, token: str | None) -> AsyncIterator[EdgeFeed]:
    async with aiohttp.ClientSession() as session:
        yield EdgeFeed(session, url, token)
