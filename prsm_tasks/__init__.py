"""prsm_tasks: a distributed task queue for peer nodes on NATS JetStream.

The names below are exported lazily: ``import prsm_tasks.client.http`` (the HTTP SDK) must not
load the node, its actors or the edge, so each name is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prsm_tasks.client.native import Client
    from prsm_tasks.client.scheduler import AsyncTaskSchedulerClient, TaskSchedulerClient
    from prsm_tasks.client.service import TaskService
    from prsm_tasks.errors import (
        InvalidTaskDataError,
        PayloadTooLargeError,
        PrsmError,
        ServiceUnavailableError,
        TaskAlreadyFinishedError,
        TaskNotFoundError,
        TaskTimeoutError,
        ValidationError,
    )
    from prsm_tasks.handlers import Cancelled, Fail, Retry, TaskContext, handler
    from prsm_tasks.messages import TaskEvent
    from prsm_tasks.models import TaskDependency, TaskRecord, TaskSpec, TaskStatus
    from prsm_tasks.node import Node
    from prsm_tasks.store.graph_create import GraphNode
    from prsm_tasks.tasks import BaseTask, ProgressHandle

# exported name -> the module that defines it
_EXPORTS = {
    "AsyncTaskSchedulerClient": "prsm_tasks.client.scheduler",
    "BaseTask": "prsm_tasks.tasks",
    "Cancelled": "prsm_tasks.handlers",
    "Client": "prsm_tasks.client.native",
    "Fail": "prsm_tasks.handlers",
    "GraphNode": "prsm_tasks.store.graph_create",
    "InvalidTaskDataError": "prsm_tasks.errors",
    "Node": "prsm_tasks.node",
    "PayloadTooLargeError": "prsm_tasks.errors",
    "ProgressHandle": "prsm_tasks.tasks",
    "PrsmError": "prsm_tasks.errors",
    "Retry": "prsm_tasks.handlers",
    "ServiceUnavailableError": "prsm_tasks.errors",
    "TaskAlreadyFinishedError": "prsm_tasks.errors",
    "TaskContext": "prsm_tasks.handlers",
    "TaskDependency": "prsm_tasks.models",
    "TaskEvent": "prsm_tasks.messages",
    "TaskNotFoundError": "prsm_tasks.errors",
    "TaskRecord": "prsm_tasks.models",
    "TaskService": "prsm_tasks.client.service",
    "TaskSpec": "prsm_tasks.models",
    "TaskSchedulerClient": "prsm_tasks.client.scheduler",
    "TaskStatus": "prsm_tasks.models",
    "TaskTimeoutError": "prsm_tasks.errors",
    "ValidationError": "prsm_tasks.errors",
    "handler": "prsm_tasks.handlers",
}

__all__ = [
    "AsyncTaskSchedulerClient",
    "BaseTask",
    "Cancelled",
    "Client",
    "Fail",
    "GraphNode",
    "InvalidTaskDataError",
    "Node",
    "PayloadTooLargeError",
    "ProgressHandle",
    "PrsmError",
    "Retry",
    "ServiceUnavailableError",
    "TaskAlreadyFinishedError",
    "TaskContext",
    "TaskDependency",
    "TaskEvent",
    "TaskNotFoundError",
    "TaskRecord",
    "TaskSchedulerClient",
    "TaskService",
    "TaskSpec",
    "TaskStatus",
    "TaskTimeoutError",
    "ValidationError",
    "handler",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'prsm_tasks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
