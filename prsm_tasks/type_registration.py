"""Peer nodes and the task-type registry.

When a node starts it registers the task types its handlers serve, then checks each task's
data against its type's current schema before running it (a schema may change after the edge
checked a task).

Types registered by nodes live in the *system scope*: every tenant sees them, and a tenant's
own type of the same name shadows one for that tenant. Their ``parameters_schema`` is the
JSON Schema of the handler's parameter model (its annotations, or a ``BaseTask``'s
``execute``), their ``result_schema`` that of a ``BaseTask``'s result model, their queue the
handler's queue. A handler with only ``**task_data`` declares no schema; one set earlier stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog
from nats.js import JetStreamContext

from prsm_tasks import wire
from prsm_tasks.handlers import HandlerRegistry, HandlerSpec
from prsm_tasks.store.type_index import TypeIndex
from prsm_tasks.store.types import TaskTypeStore
from prsm_tasks.store.watch import BucketWatch

log = structlog.get_logger("prsm.types")


def _description(spec: HandlerSpec) -> str | None:
    doc = (spec.func.__doc__ or "").strip()
    return doc.splitlines()[0][:500] if doc else None


def typed_specs(specs: Iterable[HandlerSpec]) -> dict[str, HandlerSpec]:
    """One spec per task type name (the first; a type served on two queues is logged)."""
    chosen: dict[str, HandlerSpec] = {}
    for spec in specs:
        if spec.task_type is None:
            continue
        first = chosen.setdefault(spec.task_type, spec)
        if first is not spec and first.queue != spec.queue:
            log.warning(
                "task_type_on_two_queues",
                task_type=spec.task_type,
                registered_queue=first.queue,
                other_queue=spec.queue,
            )
    return chosen


async def register_types(js: JetStreamContext, specs: Iterable[HandlerSpec]) -> int:
    """Create or update the system-scope types of ``specs``; how many there are."""
    return len(await _register(js, typed_specs(specs)))


async def _register(
    js: JetStreamContext, chosen: dict[str, HandlerSpec]
) -> dict[str, dict[str, Any] | None]:
    """Register each type; the parameters schema each handler declares, by type name."""
    store = await TaskTypeStore.open(js)
    schemas: dict[str, dict[str, Any] | None] = {}
    for name, spec in chosen.items():
        schemas[name] = spec.parameters_schema()
        record, _ = await store.register_system(
            name=name,
            queue_name=spec.queue,
            parameters_schema=schemas[name],
            result_schema=spec.result_schema(),
            description=_description(spec),
        )
        log.debug("task_type_registered", task_type=name, type_id=record.id, queue=spec.queue)
    return schemas


class NodeTypeCheck:
    """The registry's ``type_check``: task data against its type's schema as it is now.

    A type whose schema is the one this node's own handler declares is skipped: the handler's
    parameter model checks exactly that when the task is bound.
    """

    def __init__(self, index: TypeIndex, own_schemas: dict[str, dict[str, Any] | None]) -> None:
        self.index = index
        self._own_schemas = own_schemas
        self._is_own: dict[int, tuple[int, bool]] = {}  # type id -> (revision, same schema)
        self.watch: BucketWatch | None = None

    def __call__(self, tenant: str | None, task_type: str, task_data: dict[str, Any]) -> None:
        found = self.index.resolve(tenant, task_type)
        if found is None:
            return
        record, rev = found
        known = self._is_own.get(record.id)
        if known is None or known[0] != rev:
            own = self._own_schemas.get(task_type)
            known = (rev, own is not None and record.parameters_schema == own)
            self._is_own[record.id] = known
        if not known[1]:
            self.index.validate(found, task_data, root="task_data")

    async def stop(self) -> None:
        if self.watch is not None:
            await self.watch.stop()


async def register_node_types(js: JetStreamContext, registry: HandlerRegistry) -> NodeTypeCheck:
    """Register the node's task types, then keep the registry in view and install the check.

    The watch's subscription lives on the node's connection and ends with its drain.
    """
    index = TypeIndex()
    check = NodeTypeCheck(index, await _register(js, typed_specs(registry.specs())))
    check.watch = BucketWatch(js, wire.TYPES_BUCKET, index.on_entry)
    await check.watch.start()
    registry.type_check = check
    return check
