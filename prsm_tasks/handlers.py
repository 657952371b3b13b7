"""Handler declarations, the registry a node serves from, and the TaskContext handlers get.

A handler is ``handler(ctx, **task_data)``, async or sync. Its parameter annotations become a
pydantic model that validates ``task_data`` before the call (and gives the task type its JSON
Schema); a handler that declares ``**task_data`` receives whatever else was sent.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pydantic

from prsm_tasks.errors import HandlerError, InvalidTaskDataError, ValidationError
from prsm_tasks.task_logs import LogCapture, TaskLogger, task_logger
from prsm_tasks.trace import TraceContext
from prsm_tasks.wire import check_queue_name, check_task_type

HandlerFunc = Callable[..., Any]
# a sync handler waits this long for its checkpoint to be stored (each NATS request in it
# has its own, shorter timeout)
CHECKPOINT_WAIT_S = 60.0


class Retry(Exception):
    """Raised by a handler: run this task again after ``delay`` seconds (counts as a retry)."""

    def __init__(self, message: str = "retry requested", *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class Fail(Exception):
    """Raised by a handler: the task failed for good; no retry."""


class Cancelled(Exception):
    """Raised by ``ctx.raise_if_cancelled()`` once the task was cancelled."""


class _Done:
    """Lets ``ctx.progress(...)`` be called plainly (sync handlers) or awaited (async ones)."""

    __slots__ = ()

    def __await__(self) -> Any:
        return iter(())


_DONE = _Done()


class TaskContext:
    """What a running handler knows about its task and how it talks back."""

    def __init__(
        self,
        *,
        task_id: str,
        queue: str,
        task_type: str | None,
        attempt: int,
        node_id: str,
        report_progress: Callable[[float | None, str | None], None],
        loop: asyncio.AbstractEventLoop,
        open_logs: Callable[[], LogCapture] | None = None,
        trace: TraceContext | None = None,
    ) -> None:
        self.task_id = task_id
        # this attempt's span (a child of the task's stored traceparent); pass it as
        # ``trace=`` to tasks the handler enqueues; None for a task stored without a trace
        self.trace = trace
        self.queue = queue
        self.task_type = task_type
        self.attempt = attempt
        self.node_id = node_id
        self._report_progress = report_progress
        self._loop = loop
        # a plain flag: set from the event loop, read from the handler's thread; one store
        # and one load of a bool are atomic, and an Event per task costs more than the task
        self._cancelled = False
        self._open_logs = open_logs  # the node's capture of this attempt's log (made lazily)
        self._logger: TaskLogger | None = None
        # what the task's last checkpoint saved (None: none, start from the beginning), and
        # how this attempt saves one (set by the node's runner; None: no checkpoint store)
        self.checkpoint_state: Any = None
        self.save_checkpoint: Callable[[Any, str | None], Awaitable[Any]] | None = None

    @property
    def logger(self) -> TaskLogger:
        """Bound to the task in the node's log; on a node, each line is also captured into
        the attempt's log (``GET /tasks/{id}/logs``, ``task_log`` events)."""
        if self._logger is None:
            capture = self._open_logs() if self._open_logs is not None else None
            context = {
                "task_id": self.task_id,
                "queue": self.queue,
                "node_id": self.node_id,
                "attempt": self.attempt,
            }
            if self.trace is not None:  # the node's lines join the task's trace
                context["trace_id"] = self.trace.trace_id
                context["span_id"] = self.trace.span_id
            self._logger = task_logger(context, capture)
        return self._logger

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled

    def raise_if_cancelled(self) -> None:
        if self._cancelled:
            raise Cancelled(f"task {self.task_id} was cancelled")

    def mark_cancelled(self) -> None:
        self._cancelled = True

    def progress(self, value: float | None = None, text: str | None = None) -> _Done:
        """Report progress (0..1 and/or a text). Safe from the handler's thread; coalesced."""
        if value is not None:
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise ValidationError(f"progress must be within 0..1, got {value!r}", field="value")
            value = float(value)
        if text is not None and not isinstance(text, str):
            raise ValidationError("progress text must be a string", field="text")
        try:
            running_loop = asyncio.get_running_loop()
        except RuntimeError:
            running_loop = None
        if running_loop is self._loop:
            self._report_progress(value, text)
        else:
            self._loop.call_soon_threadsafe(self._report_progress, value, text)
        return _DONE

    def checkpoint(self, state: Any, summary: str | None = None) -> Any:
        """Save ``state`` (msgpack-able, at most ``PRSM_MAX_CHECKPOINT_BYTES`` encoded) as
        the task's checkpoint: a later attempt gets it as ``checkpoint_state``.

        Awaited in an async handler (``await ctx.checkpoint(state)``); called plainly in a
        sync one, it blocks until the checkpoint is stored. Either way it returns the
        checkpoint's ``CheckpointMark`` (seq, attempt, time, size, summary), or raises
        ``CheckpointRefusedError`` once this attempt no longer owns the task (stop then),
        or ``PayloadTooLargeError`` / ``ValidationError`` for state it cannot store."""
        save = self.save_checkpoint
        if save is None:
            raise HandlerError("checkpoints need a node with a checkpoint store")
        try:
            running_loop = asyncio.get_running_loop()
        except RuntimeError:
            running_loop = None
        if running_loop is self._loop:
            return save(state, summary)
        future = asyncio.run_coroutine_threadsafe(_awaited(save(state, summary)), self._loop)
        return future.result(timeout=CHECKPOINT_WAIT_S)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


@dataclass(kw_only=True)
class HandlerSpec:
    queue: str
    task_type: str | None
    func: HandlerFunc
    is_async: bool
    params_model: type[pydantic.BaseModel] | None
    accepts_extra: bool
    param_names: frozenset[str] = field(default_factory=frozenset)
    # a BaseTask's declared result (see tasks.py); its schema goes with the task type
    result_model: type[pydantic.BaseModel] | None = None

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"

    def bind(self, task_data: dict[str, Any]) -> dict[str, Any]:
        """Validate ``task_data`` against the handler's signature; the kwargs to call with."""
        if self.params_model is None:
            return task_data
        try:
            model = self.params_model.model_validate(task_data)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(part) for part in first.get("loc", ())) or "task_data"
            raise InvalidTaskDataError(
                f"task_data.{path}: {first.get('msg')}", field=f"task_data.{path}"
            ) from exc
        kwargs = {name: getattr(model, name) for name in self.param_names}
        if self.accepts_extra and model.model_extra:
            kwargs.update(model.model_extra)
        return kwargs

    def parameters_schema(self) -> dict[str, Any] | None:
        if self.params_model is None:
            return None
        return self.params_model.model_json_schema()

    def result_schema(self) -> dict[str, Any] | None:
        if self.result_model is None:
            return None
        return self.result_model.model_json_schema()


def build_spec(func: HandlerFunc, *, queue: str, task_type: str | None) -> HandlerSpec:
    check_queue_name(queue)
    if task_type is not None:
        check_task_type(task_type)
    class_spec = getattr(func, "_prsm_handler_spec", None)
    if isinstance(func, type) and class_spec is not None:
        return class_spec(queue=queue, task_type=task_type)  # a BaseTask subclass
    if not callable(func):
        raise HandlerError(f"handler for {queue} is not callable: {func!r}")
    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise HandlerError(f"handler {func.__qualname__} must take the TaskContext first")
    fields: dict[str, Any] = {}
    accepts_extra = False
    for param in params[1:]:
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_extra = True
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise HandlerError(f"handler {func.__qualname__}: task data is passed by keyword")
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    params_model = None
    if fields:
        params_model = pydantic.create_model(
            f"{func.__name__}_params",
            __config__=pydantic.ConfigDict(extra="allow" if accepts_extra else "forbid"),
            **fields,
        )
    return HandlerSpec(
        queue=queue,
        task_type=task_type,
        func=func,
        is_async=inspect.iscoroutinefunction(func),
        params_model=params_model,
        accepts_extra=accepts_extra,
        param_names=frozenset(fields),
    )


class HandlerRegistry:
    """Handlers by (queue, task_type); a handler with task_type None serves any type."""

    def __init__(self, specs: Iterable[HandlerSpec] = ()) -> None:
        self._specs: dict[tuple[str, str | None], HandlerSpec] = {}
        # (tenant, task_type, task_data) -> None or InvalidTaskDataError: the registered type's
        # current schema, installed by ``type_registration.register_node_types``
        self.type_check: Callable[[str | None, str, dict[str, Any]], None] | None = None
        for spec in specs:
            self.add(spec)

    def check_task_data(self, fields: dict[str, Any]) -> None:
        """Check a task's data against its type's schema as it is now (it may have changed
        since the edge checked it); a no-op for untyped tasks or without registration."""
        task_type = fields["task_type"]
        if task_type is not None and self.type_check is not None:
            self.type_check(fields["tenant"], task_type, fields["task_data"])

    def add(self, spec: HandlerSpec) -> None:
        self._specs[(spec.queue, spec.task_type)] = spec

    def register(self, func: HandlerFunc, *, queue: str, task_type: str | None = None) -> None:
        self.add(build_spec(func, queue=queue, task_type=task_type))

    def lookup(self, queue: str, task_type: str | None) -> HandlerSpec | None:
        return self._specs.get((queue, task_type)) or self._specs.get((queue, None))

    @property
    def queues(self) -> list[str]:
        return sorted({queue for queue, _ in self._specs})

    @property
    def task_types(self) -> list[str]:
        return sorted({task_type for _, task_type in self._specs if task_type})

    def specs(self) -> list[HandlerSpec]:
        return list(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


# Handlers declared with @prsm_tasks.handler at import time of a handler module.
DECLARED = HandlerRegistry()


def handler(queue: str, task_type: str | None = None) -> Callable[[HandlerFunc], HandlerFunc]:
    """Declare ``func`` as the handler of ``queue`` (and ``task_type``) for any node serving it."""

    def declare(func: HandlerFunc) -> HandlerFunc:
        DECLARED.register(func, queue=queue, task_type=task_type)
        return func

    return declare


def import_handler_modules(modules: Iterable[str]) -> HandlerRegistry:
    """Import each module (declaring its handlers) and return the handlers they declared."""
    registry = HandlerRegistry()
    for module_name in modules:
        before = {id(spec) for spec in DECLARED.specs()}
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise HandlerError(f"cannot import handler module {module_name!r}: {exc}") from exc
        declared_here = [
            spec for spec in DECLARED.specs() if spec.func.__module__ == module.__name__
        ]
        for spec in declared_here or [s for s in DECLARED.specs() if id(s) not in before]:
            registry.add(spec)
    return registry
