"""The scheduler API's Python SDK (``TaskSchedulerClient`` and its async twin) against a real
`prsm-tasks up` (its nats-server, node and edge), with the token it prints.

Only the routes on this edge are exercised: the document's full example (which also triggers
and lists executions) runs here as soon as the edge serves those routes, and is skipped
until then.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest

from prsm_tasks import AsyncTaskSchedulerClient, TaskSchedulerClient
from prsm_tasks.client.scheduler_models import Page, Task
from prsm_tasks.edge.surfaces.scheduler.surface import ROUTES
from prsm_tasks.errors import (
    DependencyCycleError,
    TaskNotFoundError,
    UnauthorizedError,
    ValidationError,
)
from scripts.wheel_smoke import read_edge, start_up, stop
from tests.edge.test_cli_up_auth import COMMAND, user_env

ROOT = Path(__file__).resolve().parents[2]
DOCS_PAGE = ROOT / "docs" / "scheduler-api.md"
NODE_SIDE = ("prsm_tasks.actors", "prsm_tasks.node", "prsm_tasks.edge", "prsm_tasks.services")
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


class Up(NamedTuple):
    url: str
    token: str
    data_dir: Path


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One `prsm-tasks up` for this module's tests (each uses its own schedules)."""
    data_dir = tmp_path_factory.mktemp("sdk") / ".prsm"
    process = start_up(COMMAND, data_dir, env=user_env())
    try:
        url, token = read_edge(process)
        yield Up(url, token, data_dir)
    finally:
        stop(process)


@pytest.fixture
def client(up: Up) -> Iterator[TaskSchedulerClient]:
    with TaskSchedulerClient(base_url=up.url, api_key=up.token) as opened:
        yield opened


def mint(up: Up, user: str, tenant: str) -> str:
    """A token from `prsm-tasks token`, as a user of the SDK gets one."""
    args = [COMMAND, "token", "--data", str(up.data_dir), "--user", user, "--tenant", tenant]
    done = subprocess.run(args, env=user_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_importing_the_sdk_from_the_package_root_loads_no_node_or_edge_code() -> None:
    probe = (
        "import sys\n"
        "from prsm_tasks import TaskSchedulerClient, AsyncTaskSchedulerClient\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('prsm_tasks')))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert "prsm_tasks.client.scheduler" in loaded
    assert [name for name in loaded if name.startswith(NODE_SIDE)] == []


def test_the_documents_create_get_and_delete_with_typed_answers(
    client: TaskSchedulerClient,
) -> None:
    task = client.create_task(
        task_name="daily_report",
        task_type="cron",
        schedule_expression="0 0 * * *",
        timezone="America/New_York",
        payload={"report_type": "daily"},
    )
    assert isinstance(task, Task) and task.status == "scheduled"
    when = task.next_execution_time
    assert isinstance(when, datetime) and when.utcoffset() == timedelta(0)
    assert (when.hour, when.minute) in ((4, 0), (5, 0))  # midnight in New York, in UTC

    task = client.get_task(task.task_id)
    assert task.status == "scheduled" and task.next_execution_time == when
    assert task.payload == {"report_type": "daily"} and task.timezone == "America/New_York"
    assert task.task_id in {item.task_id for item in client.list_tasks(limit=100)}

    client.delete_task(task.task_id)
    with pytest.raises(TaskNotFoundError):
        client.get_task(task.task_id)


def test_update_pause_resume_and_list_filters(client: TaskSchedulerClient) -> None:
    task = client.create_task(
        "sdk_update", "cron", schedule_expression="0 0 * * *", tags={"t": "1"}
    )
    update = client.update_task(
        task.task_id, schedule_expression="0 2 * * *", enabled=True, priority="medium"
    )
    assert update.updated_fields == ["schedule_expression"]
    assert update.next_execution_time is not None and update.next_execution_time.hour == 2

    paused = client.pause_task(task.task_id)
    assert paused.status == "paused" and paused.paused_at is not None
    page = client.list_tasks(status="paused", tag="t:1", limit=100)
    assert isinstance(page, Page) and page.limit == 100 and page.offset == 0
    assert [item.task_id for item in page] == [task.task_id] and page.total == 1

    resumed = client.resume_task(task.task_id)
    assert resumed.status == "scheduled" and resumed.next_execution_time is not None
    assert client.get_task(task.task_id).enabled is True


def test_dependencies_and_a_cycle_refused(client: TaskSchedulerClient) -> None:
    parent = client.create_task("sdk_parent", "interval", schedule_expression="1h")
    child = client.create_task("sdk_child", "interval", schedule_expression="1h")
    added = client.add_dependency(child.task_id, parent.task_id, "completion")
    assert added.task_id == child.task_id and added.dependency_type == "completion"

    [listed] = client.list_dependencies(child.task_id)
    assert listed.dependency_id == added.dependency_id
    assert listed.depends_on_task_name == "sdk_parent"
    with pytest.raises(DependencyCycleError):
        client.add_dependency(parent.task_id, child.task_id)

    client.remove_dependency(child.task_id, added.dependency_id)
    assert client.list_dependencies(child.task_id) == []


def test_bulk_create_reports_the_failed_item_and_bulk_delete(client: TaskSchedulerClient) -> None:
    result = client.bulk_create_tasks(
        [
            {
                "task_name": "sdk_bulk1",
                "task_type": "one_time",
                "next_execution_time": later(hours=1),
            },
            {"task_name": "sdk_bulk2", "task_type": "cron", "schedule_expression": "99 * * * *"},
        ]
    )
    assert (result.created, result.failed) == (1, 1)
    [error] = result.errors
    assert error.index == 1 and error.field == "schedule_expression"

    deleted = client.bulk_delete_tasks([*result.task_ids, "00000000-0000-4000-8000-000000000000"])
    assert (deleted.deleted, deleted.failed) == (1, 1)
    with pytest.raises(TaskNotFoundError):
        client.get_task(result.task_ids[0])


def test_status_and_workers_name_the_node_of_up(client: TaskSchedulerClient) -> None:
    status = client.get_status()
    assert status.status in ("healthy", "degraded")
    assert status.workers.total >= 1 and "high_priority" in status.queue
    workers = client.get_workers()
    assert workers.total == len(workers) >= 1
    assert all(worker.capacity >= 1 and worker.worker_id for worker in workers)


def test_errors_raise_the_prsm_error_of_their_code(up: Up, client: TaskSchedulerClient) -> None:
    before = client.list_tasks(limit=1).total
    with pytest.raises(ValidationError) as refused:
        client.create_task("sdk_bad", "cron", schedule_expression="0 0 * *", timezone="UTC")
    assert refused.value.field == "schedule_expression"
    with pytest.raises(ValidationError) as refused:
        client.create_task("sdk_bad", "cron", schedule_expression="0 0 * * *", timezone="Mars/Base")
    assert refused.value.field == "timezone"
    assert client.list_tasks(limit=1).total == before  # nothing written

    with (
        TaskSchedulerClient(up.url, api_key="not-a-token") as stranger,
        pytest.raises(UnauthorizedError),
    ):
        stranger.list_tasks()


def test_another_tenants_task_does_not_exist_for_the_sdk(
    up: Up, client: TaskSchedulerClient
) -> None:
    task = client.create_task("sdk_private", "interval", schedule_expression="1h")
    with TaskSchedulerClient(up.url, api_key=mint(up, "mallory", "evil")) as mallory:
        with pytest.raises(TaskNotFoundError):
            mallory.get_task(task.task_id)
        with pytest.raises(TaskNotFoundError):
            mallory.delete_task(task.task_id)
        assert task.task_id not in {item.task_id for item in mallory.list_tasks(limit=100)}
    assert client.get_task(task.task_id).status == "scheduled"


def test_a_client_never_closed_as_in_the_document_leaks_no_session(up: Up) -> None:
    script = (
        "import sys\n"
        "from prsm_tasks import TaskSchedulerClient\n"
        "client = TaskSchedulerClient(base_url=sys.argv[1], api_key=sys.argv[2])\n"
        "print(client.get_status().status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", script, up.url, up.token],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Unclosed" not in done.stderr and "unclosed" not in done.stderr


async def test_the_async_client_makes_the_same_calls(up: Up) -> None:
    async with AsyncTaskSchedulerClient(up.url, up.token) as client:
        task = await client.create_task(
            "sdk_async", "one_time", next_execution_time=datetime.now(UTC) + timedelta(hours=2)
        )
        got = await client.get_task(task.task_id)
        assert got.task_type == "one_time" and got.next_execution_time == task.next_execution_time
        assert (await client.pause_task(task.task_id)).status == "paused"
        await client.delete_task(task.task_id)
        with pytest.raises(TaskNotFoundError):
            await client.get_task(task.task_id)


def route_served(method: str, path: str) -> bool:
    return any(route.method == method and route.path == path for route in ROUTES)


@pytest.mark.skipif(
    not (
        route_served("POST", "/api/v1/tasks/{task_id}/trigger")
        and route_served("GET", "/api/v1/tasks/{task_id}/executions")
    ),
    reason="the edge does not serve trigger and executions yet (the firing work adds them)",
)
def test_the_documents_python_example_runs_as_written_in_the_docs(up: Up) -> None:
    """The example of docs/scheduler-api.md (the document's, with our import line), with this
    edge's URL and token in place of the placeholders."""
    example = PYTHON_BLOCK.findall(DOCS_PAGE.read_text())[0]
    assert "from prsm_tasks import TaskSchedulerClient" in example
    code = example.replace("https://api.example.com", up.url).replace("your_api_key", up.token)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(DOCS_PAGE), "exec"), {"__name__": "example"})
    assert re.search(r"Task created: \S+", printed.getvalue())
    assert re.search(r"Triggered execution: \S+", printed.getvalue())
