"""What every request handler of one edge shares, and the checks they have in common."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
import pydantic
from aiohttp import web
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from prsm_tasks import bus, wire
from prsm_tasks.edge.auth import AuthConfig, JwtVerifier, Principal
from prsm_tasks.edge.errors import from_pydantic
from prsm_tasks.edge.mirrors import NodeView, TypeView
from prsm_tasks.edge.ratelimit import RateLimiter
from prsm_tasks.edge.stats import HostSampler
from prsm_tasks.edge.view import TaskView
from prsm_tasks.errors import (
    ForbiddenError,
    PayloadTooLargeError,
    QueueNotAvailableError,
    ServiceUnavailableError,
    TaskNotFoundError,
    ValidationError,
    WorkerUnavailableError,
)
from prsm_tasks.store.batches import BatchCoordinator
from prsm_tasks.store.events import EventPublisher
from prsm_tasks.store.tasks import TaskStore
from prsm_tasks.store.watch import BucketWatch
from prsm_tasks.store.work import WorkWriter


@dataclass(frozen=True, kw_only=True)
class EdgeConfig:
    servers: list[str]
    auth: AuthConfig
    host: str = "127.0.0.1"
    port: int = 8080
    queues: tuple[str, ...] = wire.STANDARD_QUEUES
    disabled_queues: frozenset[str] = frozenset()
    rate_limit_per_s: float = 100.0
    rate_limit_burst: int = 200
    max_body_bytes: int = 1_048_576
    max_task_data_bytes: int = 1_048_576
    node_stale_s: float = 10.0
    topology: bus.Topology = field(default_factory=bus.Topology)
    name: str = "prsm-edge"


@dataclass(kw_only=True)
class EdgeState:
    config: EdgeConfig
    nc: NatsClient
    js: JetStreamContext
    store: TaskStore
    events: EventPublisher
    batches: BatchCoordinator
    verifier: JwtVerifier
    limiter: RateLimiter
    view: TaskView = field(default_factory=TaskView)
    nodes: NodeView
    types: TypeView = field(default_factory=TypeView)
    host: HostSampler = field(default_factory=HostSampler)
    watches: list[BucketWatch] = field(default_factory=list)
    storage: tuple[float, int | None, int | None] = (0.0, None, None)  # (read at, used, limit)
    started_at: float = field(default_factory=time.time)

    @property
    def writer(self) -> WorkWriter:
        return self.batches.writer

    @property
    def caught_up(self) -> bool:
        return all(watch.caught_up.is_set() for watch in self.watches)

    def check_connected(self) -> None:
        """Fail at once while NATS is away, instead of waiting out a request timeout."""
        if not self.nc.is_connected:
            raise ServiceUnavailableError("NATS is unreachable; try again shortly")

    def check_queue(self, queue: str, *, require_worker: bool = False) -> None:
        wire.check_queue_name(queue)
        if queue in self.config.disabled_queues:
            raise QueueNotAvailableError(
                f"queue {queue} is disabled by the operator", field="queue_name"
            )
        serving = self.nodes.serving(queue)
        if queue not in self.config.queues and not serving:
            raise QueueNotAvailableError(
                f"queue {queue} is not configured and no live node serves it", field="queue_name"
            )
        if require_worker and not serving:
            raise WorkerUnavailableError(f"no live node serves queue {queue} right now")


STATE: web.AppKey[EdgeState] = web.AppKey("prsm_edge_state", EdgeState)


def check_access(record: dict[str, Any], principal: Principal, task_id: str) -> None:
    """Another tenant's task does not exist (404); another user's is forbidden (403)."""
    if record.get("tenant") != principal.tenant:
        raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id)
    if record.get("user") != principal.user and not principal.is_admin:
        raise ForbiddenError(f"task {task_id} belongs to another user", task_id=task_id)


def check_task_id(task_id: str) -> str:
    if not wire.is_task_id(task_id):
        raise TaskNotFoundError(f"Task with ID {task_id} not found", task_id=task_id)
    return task_id


M = TypeVar("M", bound=pydantic.BaseModel)


async def read_body(request: web.Request, model: type[M], *, max_bytes: int) -> M:
    """The request's JSON object validated by ``model``; a clear 4xx for anything else."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLargeError(
            f"request body is {request.content_length} bytes, over the limit of {max_bytes}",
            field="body",
        )
    raw = await request.read()
    if not raw:
        raise ValidationError("the request body is empty; send a JSON object", field="body")
    try:
        data = wire.loads_exact(raw)  # exact: an integer the wire cannot carry is refused
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the request body is not valid JSON: {exc}", field="body") from exc
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object", field="body")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc) from exc
