"""The class-based handler style: ``BaseTask`` and the ``ProgressHandle`` it reports through.

::

    class Resize(BaseTask):
        def execute(self, progress_handle: ProgressHandle, **kwargs: Any) -> ResizeResult:
            progress_handle.send_progress("loading", 0.1)
            if self.is_cancelled:
                return ResizeCancelled(status="cancelled")
            ...
            return ResizeResult(width=640, height=480)

    node.register(Resize, queue="images", task_type="resize")

A node makes one instance per attempt. A sync ``execute`` runs in the node's thread pool, so
it never blocks the event loop, and its progress calls cross to the loop thread-safely; an
``async def execute`` runs on the loop. Both report through the same ``TaskContext.progress``
as function handlers, so the events and the coalescing are the same. The parameters of
``execute`` after ``progress_handle`` validate ``task_data`` exactly like a function handler's,
and its return annotation (a pydantic model) gives the task type its result schema.
"""

from __future__ import annotations

import abc
import inspect
import typing
from collections.abc import Iterable
from typing import Any, ClassVar

import pydantic
from nats.js import JetStreamContext

from prsm_tasks.errors import HandlerError
from prsm_tasks.handlers import HandlerSpec, TaskContext, build_spec
from prsm_tasks.task_logs import TaskLogger
from prsm_tasks.type_registration import register_types


class ProgressHandle:
    """What ``execute`` reports progress through; safe to call from the task's thread."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: TaskContext) -> None:
        self._ctx = ctx

    def send_progress_text(self, text: str) -> None:
        self._ctx.progress(None, text)

    def send_progress_value(self, value: float) -> None:
        """``value`` within 0.0..1.0."""
        self._ctx.progress(value, None)

    def send_progress(self, text: str | None, value: float | None) -> None:
        self._ctx.progress(value, text)


class BaseTask(abc.ABC):
    """Subclass, implement ``execute`` and register the class with a node."""

    # the model ``execute`` returns, when its annotation does not say (a Union, say)
    result_model: ClassVar[type[pydantic.BaseModel] | None] = None

    _ctx: TaskContext | None = None

    @abc.abstractmethod
    def execute(self, progress_handle: ProgressHandle, **kwargs: Any) -> Any:
        """Do the work; return a pydantic model whose fields become the task's result."""

    @property
    def context(self) -> TaskContext:
        if self._ctx is None:
            raise HandlerError(f"{type(self).__name__} is not running as a task")
        return self._ctx

    @property
    def logger(self) -> TaskLogger:
        """``ctx.logger`` of the running attempt: captured into the task's logs."""
        return self.context.logger

    @property
    def is_cancelled(self) -> bool:
        """True once the task was cancelled: return (or raise ``Cancelled``) soon."""
        return self._ctx is not None and self._ctx.is_cancelled

    @property
    def checkpoint_state(self) -> Any:
        """What the task's last checkpoint saved: resume from it (None: from the start)."""
        return self.context.checkpoint_state

    def checkpoint(self, state: Any, summary: str | None = None) -> Any:
        """``ctx.checkpoint``: blocks in a sync ``execute``, is awaited in an async one."""
        return self.context.checkpoint(state, summary)

    @classmethod
    def _prsm_handler_spec(cls, *, queue: str, task_type: str | None) -> HandlerSpec:
        """The hook ``handlers.build_spec`` calls for a class: see ``task_class_spec``."""
        return task_class_spec(cls, queue=queue, task_type=task_type)


def _execute_parameters(task_class: type[BaseTask]) -> list[inspect.Parameter]:
    signature = inspect.signature(task_class.execute)
    params = list(signature.parameters.values())
    if len(params) < 2:
        raise HandlerError(
            f"{task_class.__qualname__}.execute must take (self, progress_handle, **kwargs)"
        )
    try:
        hints = typing.get_type_hints(task_class.execute)
    except (NameError, TypeError):  # an annotation that cannot be resolved: treat as Any
        hints = {}
    return [
        param.replace(annotation=hints.get(param.name, param.annotation)) for param in params[2:]
    ]


def result_model_of(task_class: type[BaseTask]) -> type[pydantic.BaseModel] | None:
    if task_class.result_model is not None:
        return task_class.result_model
    try:
        returned = typing.get_type_hints(task_class.execute).get("return")
    except (NameError, TypeError):
        return None
    if isinstance(returned, type) and issubclass(returned, pydantic.BaseModel):
        return returned
    return None


def task_class_spec(
    task_class: type[BaseTask], *, queue: str, task_type: str | None
) -> HandlerSpec:
    """A HandlerSpec whose function makes a fresh instance per attempt and calls execute."""
    if not (isinstance(task_class, type) and issubclass(task_class, BaseTask)):
        raise HandlerError(f"{task_class!r} is not a BaseTask subclass")
    if inspect.isabstract(task_class):
        raise HandlerError(f"{task_class.__qualname__} does not implement execute")
    is_async = inspect.iscoroutinefunction(task_class.execute)

    def start(ctx: TaskContext) -> tuple[BaseTask, ProgressHandle]:
        task = task_class()
        task._ctx = ctx
        return task, ProgressHandle(ctx)

    if is_async:

        async def run_async(ctx: TaskContext, **kwargs: Any) -> Any:
            task, handle = start(ctx)
            return await task.execute(handle, **kwargs)

        run: Any = run_async
    else:

        def run_sync(ctx: TaskContext, **kwargs: Any) -> Any:
            task, handle = start(ctx)
            return task.execute(handle, **kwargs)

        run = run_sync
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    run.__signature__ = inspect.Signature([ctx_param, *_execute_parameters(task_class)])
    run.__name__ = task_class.__name__
    run.__qualname__ = task_class.__qualname__
    run.__module__ = task_class.__module__
    run.__doc__ = task_class.__doc__
    spec = build_spec(run, queue=queue, task_type=task_type)
    spec.result_model = result_model_of(task_class)
    return spec


async def publish_result_schemas(js: JetStreamContext, specs: Iterable[HandlerSpec]) -> int:
    """Register the task types of ``specs`` (parameters and result schemas) in PRSM_TYPES;
    see ``prsm_tasks.type_registration``, which a node calls when it starts."""
    return await register_types(js, specs)
