"""Seed 002's TaskService on the native client; its documented example runs as written."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from prsm_tasks import BaseTask, Client, InvalidTaskDataError, ProgressHandle, ValidationError
from prsm_tasks.client.service import StartedTask, SyncTaskService, TaskService
from tests.conftest import NodeFactory

DOC = Path(__file__).resolve().parents[2] / "docs" / "task-service.md"
EXAMPLE = re.compile(r"<!-- example:start -->\s*```python\n(.*?)```\s*<!-- example:end -->", re.S)


class Slept(BaseModel):
    slept: float


class SleepTask(BaseTask):
    async def execute(self, progress_handle: ProgressHandle, seconds: float = 0.0) -> Slept:
        step = 0.05
        waited = 0.0
        while waited < seconds:
            self.context.raise_if_cancelled()
            await asyncio.sleep(step)
            waited += step
        progress_handle.send_progress("slept", 1.0)
        return Slept(slept=seconds)


async def test_the_documented_example_runs(nats_url: str, tmp_path: Path) -> None:
    match = EXAMPLE.search(DOC.read_text())
    assert match, "docs/task-service.md lost its example block"
    script = tmp_path / "example.py"
    script.write_text(match.group(1))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env={**os.environ, "PRSM_SERVERS": nats_url, "PRSM_LOG_LEVEL": "warning"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    text = output.decode()
    assert process.returncode == 0, text
    assert "started: {'task_id': 'task_" in text
    assert "/api/tasks/task_" in text and "/stream?grant=g1." in text
    events = re.search(r"events: (\[.*\])", text)
    assert events, text
    assert "'task_started'" in events.group(1)  # (task_enqueued comes from another publisher)
    assert events.group(1).endswith("'task_completed']")
    assert "status: completed {'counted': 3}" in text
    assert "cancel after the end: False" in text


async def test_start_follow_and_cancel_by_class_and_type_name(
    client: Client, queue: str, start_node: NodeFactory
) -> None:
    service = TaskService(client, timeout_seconds=60.0)
    service.register(SleepTask, queue=queue, task_type="sleep")
    service.register("sleep", queue=queue)
    node_handlers = {queue: SleepTask}
    async with start_node(node_handlers):
        started = await service.start_task(SleepTask(), seconds=0.0)
        path, _, query = started.stream_url.partition("?")
        assert path == f"/api/tasks/{started.task_id}/stream" and query.startswith("grant=g1.")
        events = await service.get_task_events(started.task_id, timeout=30.0)
        assert events[-1].event_type == "task_completed"
        assert (await service.get_task_status(started.task_id)).result == {"slept": 0.0}

        slow = await service.start_task("sleep", {"seconds": 30.0})
        status = await service.get_task_status(slow.task_id)
        assert status.task_type == "sleep" and status.timeout_seconds == 60.0
        assert await service.cancel_task(slow.task_id) is True
        events = await service.get_task_events(slow.task_id, timeout=30.0)
        assert events[-1].event_type == "task_cancelled"
        assert await service.cancel_task(slow.task_id) is False


async def test_what_start_task_refuses(client: Client, queue: str) -> None:
    service = TaskService(client)
    with pytest.raises(ValidationError, match="not registered"):
        await service.start_task(SleepTask, {})
    service.register(SleepTask, queue=queue)
    with pytest.raises(InvalidTaskDataError) as refused:
        await service.start_task(SleepTask, {"seconds": 10**40})
    assert refused.value.field == "task_data.seconds"
    with pytest.raises(ValidationError):
        service.register(object, queue=queue)  # type: ignore[arg-type]


async def test_events_stop_at_the_timeout(client: Client, queue: str) -> None:
    service = TaskService(client)
    service.register(SleepTask, queue=queue)
    started = await service.start_task(SleepTask)  # no node serves the queue: never starts
    events = await service.get_task_events(started.task_id, timeout=1.0)  # returns at 1 s
    assert {event.event_type for event in events} <= {"task_enqueued"}


def seed_002_flow(nats_url: str, queue: str) -> tuple[StartedTask, list[str], bool]:
    """Seed 002's integration test, as synchronous code writes it."""
    with SyncTaskService(nats_url, stream_base="http://edge.test") as task_service:
        task_service.register(SleepTask, queue=queue)
        response = task_service.start_task(SleepTask(), seconds=0.0)
        events = task_service.get_task_events(response.task_id, timeout=30.0)
        assert task_service.get_task_status(response.task_id).status == "completed"
        return response, [e.event_type for e in events], task_service.cancel_task(response.task_id)


async def test_the_sync_service_runs_seed_002s_flow(
    nats_url: str, queue: str, start_node: NodeFactory
) -> None:
    async with start_node({queue: SleepTask}):
        response, event_types, cancelled = await asyncio.to_thread(seed_002_flow, nats_url, queue)
    assert "stream" in response.stream_url and response.stream_url.startswith("http://edge.test/")
    assert any(event_type == "task_completed" for event_type in event_types)
    assert cancelled is False
