"""prsm_tasks: a distributed task queue for peer nodes on NATS JetStream."""

from prsm_tasks.client.native import Client
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
from prsm_tasks.models import TaskRecord, TaskSpec, TaskStatus
from prsm_tasks.node import Node
from prsm_tasks.tasks import BaseTask, ProgressHandle

__all__ = [
    "BaseTask",
    "Cancelled",
    "Client",
    "Fail",
    "InvalidTaskDataError",
    "Node",
    "PayloadTooLargeError",
    "ProgressHandle",
    "PrsmError",
    "Retry",
    "ServiceUnavailableError",
    "TaskAlreadyFinishedError",
    "TaskContext",
    "TaskEvent",
    "TaskNotFoundError",
    "TaskRecord",
    "TaskSpec",
    "TaskStatus",
    "TaskTimeoutError",
    "ValidationError",
    "handler",
]
