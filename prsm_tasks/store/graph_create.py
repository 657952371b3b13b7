"""A whole task graph in one call: every record written (waiting) before any is released.

Nodes name each other by a local key; a ``depends_on`` entry that is not a key of the graph
names an existing task (of the same tenant). Everything is checked first (options, data,
parents, cycles among the nodes): a refused node refuses the whole graph, nothing written.
Then: every record created ``waiting`` (a node with no parent is marked ``graph_root``, so
the repair releases it if this call dies), every child named in its parents' ``dependents``
(store/graph.py), and last the roots released. A failure after the first write raises
EnqueueIncompleteError naming every task id: the repair finishes what was written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pydantic

from prsm_tasks import models, wire
from prsm_tasks.errors import (
    DependencyCycleError,
    EnqueueIncompleteError,
    ServiceUnavailableError,
    ValidationError,
)
from prsm_tasks.models import DEPENDENCY_TYPES, DependencyType, TaskDependency, TaskRecord
from prsm_tasks.store.graph import GRAPH_ROOT
from prsm_tasks.store.options import TaskOptions
from prsm_tasks.store.tasks import encode_record

if TYPE_CHECKING:
    from prsm_tasks.store.work import PreparedTask, WorkWriter

MAX_GRAPH_NODES = 1000
MAX_KEY_CHARS = 200
WRITE_WINDOW = 128


# how a caller names a parent: its id (a ``success`` dependency), (id, type), or the model
Parent = str | tuple[str, DependencyType] | TaskDependency


def as_dependencies(
    parents: Sequence[Parent], *, field: str = "depends_on"
) -> tuple[TaskDependency, ...]:
    """``parents`` as TaskDependency; a malformed entry is refused naming it."""
    dependencies = []
    for index, parent in enumerate(parents):
        if isinstance(parent, TaskDependency):
            dependencies.append(parent)
            continue
        task_id, kind = (parent, "success") if isinstance(parent, str) else parent
        try:
            dependencies.append(TaskDependency(task_id=task_id, type=kind))
        except pydantic.ValidationError as exc:
            where = f"{field}[{index}]"
            raise _refuse(
                where, f"(task id, one of {', '.join(DEPENDENCY_TYPES)}), got {parent!r:.80}"
            ) from exc
    return tuple(dependencies)


@dataclass(frozen=True)
class GraphNode:
    """One task of a graph: ``depends_on`` entries name other nodes by ``key``, or tasks
    outside the graph by id (a key wins over an id)."""

    key: str
    queue: str
    task_data: dict[str, Any]
    options: TaskOptions = field(default_factory=TaskOptions)
    depends_on: Sequence[Parent] = ()


def _refuse(field_name: str, message: str) -> ValidationError:
    return ValidationError(f"{field_name}: {message}", field=field_name)


def _check_node(index: int, node: GraphNode, keys: dict[str, str]) -> None:
    where = f"nodes[{index}]"
    if not isinstance(node.key, str) or not 1 <= len(node.key) <= MAX_KEY_CHARS:
        raise _refuse(f"{where}.key", f"a string of 1 to {MAX_KEY_CHARS} characters")
    if node.key in keys:
        raise _refuse(f"{where}.key", f"{node.key[:64]!r} is used twice")
    for name in ("depends_on", "idempotency_key", "batch_id"):
        if getattr(node.options, name) is not None:
            raise _refuse(f"{where}.options.{name}", "not taken by a graph node")


def _resolve(nodes: Sequence[GraphNode], keys: dict[str, str]) -> list[tuple[TaskDependency, ...]]:
    """Each node's parents with keys turned into the ids their nodes get."""
    resolved = []
    for index, node in enumerate(nodes):
        parents = as_dependencies(node.depends_on, field=f"nodes[{index}].depends_on")
        resolved.append(
            tuple(
                TaskDependency(task_id=keys.get(dep.task_id, dep.task_id), type=dep.type)
                for dep in parents
            )
        )
    return resolved


def _check_acyclic(nodes: Sequence[GraphNode], keys: dict[str, str]) -> list[int]:
    """The nodes in an order where parents come first (Kahn); a cycle is refused (409)."""
    children: dict[str, list[int]] = {}
    waiting_on = [0] * len(nodes)
    for index, node in enumerate(nodes):
        for dep in as_dependencies(node.depends_on, field=f"nodes[{index}].depends_on"):
            if dep.task_id in keys:
                children.setdefault(dep.task_id, []).append(index)
                waiting_on[index] += 1
    order = [index for index, count in enumerate(waiting_on) if count == 0]
    for index in order:  # grows while it is walked
        for child in children.get(nodes[index].key, ()):
            waiting_on[child] -= 1
            if waiting_on[child] == 0:
                order.append(child)
    if len(order) < len(nodes):
        in_cycle = sorted(node.key for i, node in enumerate(nodes) if waiting_on[i])[:10]
        raise DependencyCycleError(
            f"nodes: the dependencies among {', '.join(in_cycle)} make a cycle", field="nodes"
        )
    return order


def prepare_graph(
    writer: WorkWriter,
    nodes: Sequence[GraphNode],
    *,
    user: str | None,
    tenant: str | None,
) -> list[PreparedTask]:
    """Check every node and build its record (``waiting``); writes nothing."""
    if not 1 <= len(nodes) <= MAX_GRAPH_NODES:
        raise _refuse("nodes", f"between 1 and {MAX_GRAPH_NODES} nodes, got {len(nodes)}")
    keys: dict[str, str] = {}
    for index, node in enumerate(nodes):
        _check_node(index, node, keys)
        keys[node.key] = wire.new_task_id()
    _check_acyclic(nodes, keys)
    prepared = []
    for index, (node, parents) in enumerate(zip(nodes, _resolve(nodes, keys), strict=True)):
        metadata = dict(node.options.metadata or {})
        if not parents:
            metadata[GRAPH_ROOT] = True
        options = node.options.model_copy(
            update={"depends_on": parents or None, "metadata": metadata}
        )
        try:
            task = writer.prepare(
                node.queue,
                node.task_data,
                options,
                user=user,
                tenant=tenant,
                task_id=keys[node.key],
            )
        except ValidationError as exc:
            where = f"nodes[{index}].{exc.field or 'task_data'}"
            raise type(exc)(f"{where}: {exc.message}", field=where) from exc
        if not parents:  # a root waits too, until every record of the graph is written
            record = task.record.model_copy(update={"status": models.TaskStatus.WAITING})
            task = type(task)(record, encode_record(record))
        prepared.append(task)
    return prepared


async def submit_graph(writer: WorkWriter, prepared: list[PreparedTask]) -> list[TaskRecord]:
    """Check the parents outside the graph, write every record, link, release the roots."""
    ids = frozenset(task.record.task_id for task in prepared)
    for index, task in enumerate(prepared):
        record = task.record
        if any(dep.task_id not in ids for dep in record.depends_on):
            await writer.graph.check_parents(
                record.tenant, record.depends_on, field=f"nodes[{index}].depends_on", known=ids
            )
    records = [task.record for task in prepared]
    try:
        for start in range(0, len(prepared), WRITE_WINDOW):
            window = prepared[start : start + WRITE_WINDOW]
            await asyncio.gather(
                *(writer.store.create_encoded(t.record.task_id, t.payload) for t in window)
            )
        await writer.graph.attach([record for record in records if record.depends_on])
        roots = [record.task_id for record in records if not record.depends_on]
        for start in range(0, len(roots), WRITE_WINDOW):
            await asyncio.gather(
                *(writer.release(tid) for tid in roots[start : start + WRITE_WINDOW])
            )
    except ServiceUnavailableError as exc:
        raise EnqueueIncompleteError(
            f"the graph was written in part ({exc.message}); look its tasks up by id: the "
            "repair runs what was written",
            status="unknown",
            task_ids=[record.task_id for record in records],
        ) from exc
    return records
