"""``prsm-tasks status | cancel | tasks | queues | nodes``: looking at the system from a shell.

Each command reads one of two sources, which answer the same rows: NATS directly (the
operator's view: every tenant; the mirrors are opened for the one answer) or an edge's HTTP
API with a token (the token's view: its user, its tenant's admin, ``nodes`` for admins).
Rows print as a rich table, or as one JSON document with ``--json``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table
from rich.text import Text

from prsm_tasks.client.http import TaskAPI
from prsm_tasks.config import Settings
from prsm_tasks.services import inspection
from prsm_tasks.services.timestamps import iso
from prsm_tasks.services.view import public_status
from prsm_tasks.store.opener import Connection, Stores, open_stores

EDGE_PAGE = 100  # the edge's GET /tasks answers at most this many per page
MAX_CELL_CHARS = 120  # a long result or error is cut in a table (--json shows it whole)
STATUS_STYLE = {"completed": "green", "failed": "red", "timeout": "red", "cancelled": "yellow"}

Row = dict[str, Any]


class Source(Protocol):
    async def status(self, task_id: str) -> Row: ...

    async def cancel(self, task_id: str) -> Row: ...

    async def tasks(self, *, queue: str | None, status: str | None, limit: int) -> list[Row]: ...

    async def queues(self, queue: str | None) -> list[Row]: ...

    async def nodes(self) -> list[Row]: ...


def record_row(record: Any) -> Row:
    """What `status` shows of a TaskRecord read from NATS (the data stays out: it may be
    large, and it is the caller's)."""
    return {
        "task_id": record.task_id,
        "queue_name": record.queue_name,
        "task_type": record.task_type,
        "status": public_status(str(record.status)),
        "priority": record.priority,
        "progress": record.progress,
        "progress_text": record.progress_text,
        "attempt": record.attempt,
        "retry_count": record.retry_count,
        "max_retries": record.max_retries,
        "worker_node": record.worker_node,
        "user": record.user,
        "tenant": record.tenant,
        "created_at": iso(record.created_at),
        "started_at": iso(record.started_at),
        "completed_at": iso(record.completed_at),
        "result": record.result,
        "error": record.error.model_dump() if record.error else None,
    }


class NatsSource:
    def __init__(self, stores: Stores, *, node_stale_s: float) -> None:
        self.stores = stores
        self.node_stale_s = node_stale_s

    async def status(self, task_id: str) -> Row:
        record, _ = await self.stores.tasks.get(task_id)
        return record_row(record)

    async def cancel(self, task_id: str) -> Row:
        record, _ = await self.stores.writer.cancel(task_id, reason="cancelled from the CLI")
        return record_row(record)

    async def tasks(self, *, queue: str | None, status: str | None, limit: int) -> list[Row]:
        async with inspection.open_mirrors(self.stores, node_stale_s=self.node_stale_s) as seen:
            return inspection.task_rows(seen.view, queue=queue, status=status, limit=limit)

    async def queues(self, queue: str | None) -> list[Row]:
        async with inspection.open_mirrors(self.stores, node_stale_s=self.node_stale_s) as seen:
            return inspection.queue_rows(seen.view, seen.nodes, tenant=None, queue=queue)

    async def nodes(self) -> list[Row]:
        async with inspection.open_mirrors(
            self.stores, node_stale_s=self.node_stale_s, tasks=False
        ) as seen:
            return inspection.node_rows(seen.nodes)


class EdgeSource:
    def __init__(self, api: TaskAPI) -> None:
        self.api = api

    async def status(self, task_id: str) -> Row:
        return await self.api.status(task_id)

    async def cancel(self, task_id: str) -> Row:
        return await self.api.cancel(task_id)

    async def tasks(self, *, queue: str | None, status: str | None, limit: int) -> list[Row]:
        rows: list[Row] = []
        while len(rows) < limit:
            page = await self.api.list_page(
                status=status,
                queue_name=queue,
                limit=min(EDGE_PAGE, limit - len(rows)),
                offset=len(rows),
            )
            rows.extend(page["tasks"])
            if not page["pagination"]["has_more"] or not page["tasks"]:
                break
        return rows[:limit]

    async def queues(self, queue: str | None) -> list[Row]:
        return (await self.api.inspect_queues(queue))["queues"]

    async def nodes(self) -> list[Row]:
        return (await self.api.inspect_nodes())["nodes"]


@contextlib.asynccontextmanager
async def open_source(
    settings: Settings, *, edge_url: str | None, token: str | None
) -> AsyncIterator[Source]:
    """The edge at ``edge_url`` with ``token``, else NATS as ``settings`` say."""
    if edge_url:
        async with TaskAPI(edge_url, token) as api:
            yield EdgeSource(api)
        return
    connection = Connection.from_settings(settings, name="prsm-inspect")
    async with open_stores(connection) as stores:
        yield NatsSource(stores, node_stale_s=settings.node_stale_seconds)


# --- rendering ----------------------------------------------------------------------------------


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def status_text(status: Any) -> Text:
    return Text(str(status), style=STATUS_STYLE.get(str(status), ""))


def record_table(row: Row) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in row.items():
        table.add_row(key, status_text(value) if key == "status" else cell(value))
    return table


def rows_table(
    title: str, columns: list[tuple[str, Callable[[Row], Any]]], rows: list[Row]
) -> Table:
    table = Table(title=title, title_justify="left")
    for name, _ in columns:
        table.add_column(name, no_wrap=True)
    for row in rows:
        table.add_row(*(render(row) for _, render in columns))
    return table


def _get(key: str) -> Callable[[Row], str]:
    return lambda row: cell(row.get(key))


TASK_COLUMNS: list[tuple[str, Callable[[Row], Any]]] = [
    ("task", _get("task_id")),
    ("queue", _get("queue_name")),
    ("status", lambda row: status_text(row.get("status"))),
    ("prio", _get("priority")),
    ("created", _get("created_at")),
    ("completed", _get("completed_at")),
    ("run s", _get("execution_time_seconds")),
    ("retries", _get("retry_count")),
]


def _bands(row: Row) -> str:
    bands = row.get("depth_by_band") or {}
    return "/".join(str(bands.get(name, 0)) for name in ("critical", "high", "normal", "low"))


QUEUE_COLUMNS: list[tuple[str, Callable[[Row], Any]]] = [
    ("queue", _get("queue_name")),
    ("depth", _get("depth")),
    ("crit/high/norm/low", _bands),
    ("running", _get("running")),
    ("done 1h", _get("completed_last_hour")),
    ("failed 1h", _get("failed_last_hour")),
    ("oldest wait s", _get("oldest_waiting_seconds")),
    ("nodes", _get("nodes_serving")),
    ("free slots", _get("free_slots")),
]


def _seen(row: Row) -> Text:
    ago = f"{row.get('last_seen_seconds_ago', 0):.0f}s ago"
    return Text(f"{ago} SILENT", style="bold red") if row.get("silent") else Text(ago)


NODE_COLUMNS: list[tuple[str, Callable[[Row], Any]]] = [
    ("node", _get("node_id")),
    ("capacity", _get("capacity")),
    ("in use", _get("in_flight")),
    ("load", _get("load")),
    ("cpu", _get("cpu_usage")),
    ("mem", _get("memory_usage")),
    ("version", _get("version")),
    ("last seen", _seen),
]


def show(console: Console, document: Any, table: Table | str, *, as_json: bool) -> None:
    if as_json:  # unwrapped, uncoloured: for jq and scripts
        console.print(
            json.dumps(document, default=str), markup=False, highlight=False, soft_wrap=True
        )
    else:
        console.print(table)


# --- commands -----------------------------------------------------------------------------------


async def run_inspection(command: str, source: Source, args: Any, console: Console) -> int:
    """One inspection command on ``source``; PrsmErrors (an unknown task, ...) go up."""
    as_json = bool(args.json)
    if command == "status":
        row = await source.status(args.task_id)
        show(console, row, record_table(row), as_json=as_json)
    elif command == "cancel":
        row = await source.cancel(args.task_id)
        line = f"{args.task_id} {row.get('status', 'cancelled')}"
        show(console, row, line, as_json=as_json)
    elif command == "tasks":
        rows = await source.tasks(queue=args.queue, status=args.status, limit=args.limit)
        show(console, rows, rows_table(f"tasks ({len(rows)})", TASK_COLUMNS, rows), as_json=as_json)
    elif command == "queues":
        rows = await source.queues(args.queue)
        show(console, rows, rows_table("queues", QUEUE_COLUMNS, rows), as_json=as_json)
    elif command == "nodes":
        rows = await source.nodes()
        show(console, rows, rows_table("nodes", NODE_COLUMNS, rows), as_json=as_json)
    else:
        raise ValueError(f"not an inspection command: {command}")
    return 0
