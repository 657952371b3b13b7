"""``TaskService``: the in-process task service of seed 002, on top of the native client.

::

    service = TaskService(client, stream_base="https://edge.example.com")
    service.register(DataProcessingTask, queue="data")        # as the node registers it
    started = await service.start_task(DataProcessingTask, {"file_path": "/in.csv"})
    started.task_id, started.stream_url                       # what the API answers (201)
    events = await service.get_task_events(started.task_id, timeout=10.0)

The tasks run on whichever peer node serves the queue, not in this process: the service only
enqueues, reads and cancels, so it is as durable and as distributed as the rest of the system.
``stream_url`` is the edge's SSE stream of the task (``/api/tasks/{task_id}/stream``), which
a browser opens with ``EventSource``; relative when no ``stream_base`` is given. It carries a
stream grant (``?grant=``, services/grants.py) signed with the deployment's key, which the
client reads from NATS once: EventSource sends no Authorization header, and the grant lets
it read that one task's events, as the task's owner, for as long as the task may run.

``SyncTaskService`` is the same for synchronous code (Flask, Django, scripts), as the seed
uses it: ``service.start_task(DataProcessingTask, file_path=...)`` blocks until written.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from prsm_tasks import wire
from prsm_tasks.client.native import Client
from prsm_tasks.errors import TaskAlreadyFinishedError, ValidationError
from prsm_tasks.messages import TaskEvent
from prsm_tasks.models import TaskRecord
from prsm_tasks.services.grants import StreamGrants, grant_lifetime_s, with_grant
from prsm_tasks.tasks import BaseTask
from prsm_tasks.wire import check_queue_name, check_task_type

TaskKind = type[BaseTask] | BaseTask | str
T = TypeVar("T")


class StartedTask(BaseModel):
    """What ``start_task`` answers: ``started.model_dump()`` is the API's 201 body."""

    task_id: str
    stream_url: str


class TaskRoute(BaseModel):
    """Where the tasks of one kind go: a queue, and the task type they are enqueued as."""

    queue: str
    task_type: str | None = None


class TaskService:
    """Start, follow and cancel tasks by their class (or type name) on a connected ``Client``."""

    def __init__(
        self,
        client: Client,
        *,
        stream_base: str = "",
        timeout_seconds: float = 300.0,
        max_retries: int = 3,
    ) -> None:
        self.client = client
        self.stream_base = stream_base.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self._routes: dict[type[BaseTask] | str, TaskRoute] = {}
        self._grants: StreamGrants | None = None

    def register(
        self, task: type[BaseTask] | str, *, queue: str, task_type: str | None = None
    ) -> None:
        """Route ``task`` (a ``BaseTask`` subclass or a task type name) to ``queue``: the same
        arguments as ``Node.register`` on the nodes that run it. A name is also its type."""
        if isinstance(task, str):
            task_type = check_task_type(task_type or task)
        elif not (isinstance(task, type) and issubclass(task, BaseTask)):
            raise ValidationError(f"{task!r} is not a BaseTask subclass or a type name")
        elif task_type is not None:
            check_task_type(task_type)
        self._routes[task] = TaskRoute(queue=check_queue_name(queue), task_type=task_type)

    def route_of(self, task: TaskKind) -> TaskRoute:
        key = type(task) if isinstance(task, BaseTask) else task
        route = self._routes.get(key)
        if route is None:
            name = key if isinstance(key, str) else getattr(key, "__qualname__", repr(key))
            raise ValidationError(
                f"{name} is not registered with this TaskService: "
                "call service.register(it, queue=...) as the nodes do",
                field="task",
            )
        return route

    def stream_url(self, task_id: str) -> str:
        """The task's stream, without a grant (for callers that send a bearer token)."""
        return f"{self.stream_base}/api/tasks/{task_id}/stream"

    async def granted_stream_url(self, record: TaskRecord) -> str:
        """The task's stream with a grant to read it as its owner (what EventSource needs)."""
        if self._grants is None:
            self._grants = StreamGrants(await self.client.shared_key(wire.STREAM_GRANT_KEY))
        lifetime_s = grant_lifetime_s(record.timeout_seconds, record.max_retries)
        grant = self._grants.sign(record.task_id, record.tenant, record.user, lifetime_s)
        return with_grant(self.stream_url(record.task_id), grant)

    async def start_task(
        self, task: TaskKind, params: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> StartedTask:
        """Enqueue one task of this kind with ``params`` (and/or keyword arguments): the
        parameters its ``execute`` takes. Checked and written before it returns."""
        route = self.route_of(task)
        record = await self.client.enqueue(
            route.queue,
            {**(params or {}), **kwargs},
            task_type=route.task_type,
            max_retries=self.max_retries,
            timeout_seconds=self.timeout_seconds,
        )
        return StartedTask(task_id=record.task_id, stream_url=await self.granted_stream_url(record))

    async def get_task_status(self, task_id: str) -> TaskRecord:
        """The task's record as stored now (``status``, ``progress``, ``result``, ``error``)."""
        return await self.client.status(task_id)

    async def cancel_task(self, task_id: str) -> bool:
        """Cancel the task; False when it had already finished (nothing changed)."""
        try:
            await self.client.cancel(task_id)
        except TaskAlreadyFinishedError:
            return False
        return True

    async def get_task_events(self, task_id: str, timeout: float = 10.0) -> list[TaskEvent]:  # noqa: ASYNC109
        """The task's events from its first, until its final event or until ``timeout``
        seconds have passed (then the events so far: check the last one's type)."""
        events: list[TaskEvent] = []
        with contextlib.suppress(TimeoutError):
            async with (
                asyncio.timeout(timeout),
                contextlib.aclosing(self.client.events(task_id=task_id)) as stream,
            ):
                async for event in stream:
                    events.append(event)
        return events


class SyncTaskService:
    """``TaskService`` for synchronous code, safe to share between threads: it runs its own
    event loop in one thread (so the NATS connection keeps its heartbeats between calls),
    and each method blocks until its answer. ``close()`` (or ``with``) ends that thread."""

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        stream_base: str = "",
        timeout_seconds: float = 300.0,
        max_retries: int = 3,
        **client_options: Any,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="prsm-task-service", daemon=True
        )
        self._thread.start()
        try:
            client = self._call(Client(servers, **client_options).open())
        except BaseException:
            self._stop_loop()
            raise
        self.service = TaskService(
            client,
            stream_base=stream_base,
            timeout_seconds=timeout_seconds,
            max_retries=max_retries,
        )

    def _call(self, call: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self.service.client.close())
        finally:
            self._stop_loop()

    def __enter__(self) -> SyncTaskService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def register(
        self, task: type[BaseTask] | str, *, queue: str, task_type: str | None = None
    ) -> None:
        self.service.register(task, queue=queue, task_type=task_type)

    def start_task(
        self, task: TaskKind, params: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> StartedTask:
        return self._call(self.service.start_task(task, params, **kwargs))

    def get_task_status(self, task_id: str) -> TaskRecord:
        return self._call(self.service.get_task_status(task_id))

    def cancel_task(self, task_id: str) -> bool:
        return self._call(self.service.cancel_task(task_id))

    def get_task_events(self, task_id: str, timeout: float = 10.0) -> list[TaskEvent]:
        return self._call(self.service.get_task_events(task_id, timeout))
