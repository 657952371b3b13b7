"""The dashboard's tasks page over 100,000 tasks: every page starts by bisection at its
cursor and reads its own rows (no scan from the top), the pages cover the scope exactly
once, newest first, and filters skip at most MAX_SCANNED rows before answering."""

from __future__ import annotations

from dataclasses import dataclass

from prsm_tasks.services import dashboard
from prsm_tasks.services.access import Principal
from prsm_tasks.services.view import Entry, TaskView

TASKS = 100_000


@dataclass
class ViewOnly:
    """The part of Services the dashboard's reads use: the in-memory TaskView."""

    view: TaskView


def loaded_view() -> TaskView:
    view = TaskView()
    for index in range(TASKS):
        view.apply(
            Entry(
                task_id=f"task_{index:08d}",
                tenant="acme",
                user="alice" if index % 10 else "bob",
                queue="odd" if index % 2 else "even",
                status="completed" if index % 3 else "failed",
                priority=5,
                created_at=1_000_000.0 + index,
                enqueued_at=1_000_000.0 + index,
                started_at=None,
                completed_at=1_000_000.0 + index,
                first_started_at=None,
                retry_count=0,
                rev=index + 1,
                task_type="resize" if index % 5 == 0 else None,
            )
        )
    return view


def test_pages_by_cursor_cover_100000_tasks_once_newest_first() -> None:
    services = ViewOnly(loaded_view())
    admin = Principal(user="root", tenant="acme", roles=frozenset({"admin"}))
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = dashboard.task_page(
            services,
            admin,
            dashboard.TaskFilter(),
            after=after,
            limit=500,  # type: ignore[arg-type]
        )
        assert page.scanned == len(page.entries)  # its own rows only, wherever it starts
        seen += [entry.task_id for entry in page.entries]
        pages += 1
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert pages == TASKS // 500
    assert seen == [f"task_{index:08d}" for index in reversed(range(TASKS))]


def test_filters_and_scope_hold_on_every_page() -> None:
    services = ViewOnly(loaded_view())
    bob = Principal(user="bob", tenant="acme", roles=frozenset())
    alice = Principal(user="alice", tenant="acme", roles=frozenset())
    stranger = Principal(user="alice", tenant="other", roles=frozenset())
    selected = dashboard.TaskFilter(queue="even", status="failed", task_type="resize")
    page = dashboard.task_page(services, bob, selected, after=None, limit=50)  # type: ignore[arg-type]
    assert len(page.entries) == 50
    for entry in page.entries:
        assert entry.user == "bob" and entry.queue == "even" and entry.status == "failed"
        assert entry.task_type == "resize"
    second = dashboard.task_page(
        services,
        bob,
        selected,
        after=page.next_cursor,
        limit=50,  # type: ignore[arg-type]
    )
    assert second.entries[0].created_at < page.entries[-1].created_at
    assert (
        dashboard.task_page(
            services,
            stranger,
            dashboard.TaskFilter(),
            after=None,
            limit=50,  # type: ignore[arg-type]
        ).entries
        == []
    )
    # a filter nothing passes answers after MAX_SCANNED rows, with a cursor to go on from
    nothing = dashboard.task_page(
        services,
        alice,
        dashboard.TaskFilter(text="no-such-text"),
        after=None,
        limit=50,  # type: ignore[arg-type]
    )
    assert nothing.entries == [] and nothing.scanned == dashboard.MAX_SCANNED
    assert nothing.next_cursor is not None
