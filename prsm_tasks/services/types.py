"""The task-type registry as the surfaces use it: find a type a tenant may see, register,
change and deactivate a tenant's types, and which live nodes serve one.

A tenant's types are its own; system types (registered by peer nodes for their handlers)
are visible to every tenant and read-only. Names are unique per scope, and a tenant cannot
take the name of a system type. Ids come from one counter (see store/types.py).
"""

from __future__ import annotations

from typing import Any

from prsm_tasks.errors import (
    ForbiddenError,
    TaskTypeConflictError,
    TaskTypeInactiveError,
    TaskTypeNotFoundError,
)
from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import Services
from prsm_tasks.services.quotas import check_new_type, check_queue_count
from prsm_tasks.store.type_index import Found
from prsm_tasks.store.types import (
    MAX_SCHEMA_BYTES,
    TaskTypeRecord,
    check_size,
    check_type_name,
    queue_of,
)
from prsm_tasks.task_schemas import check_schema

MAX_TYPE_ID = 2**63


def served_by(services: Services, record: TaskTypeRecord) -> list[str]:
    """The live peer nodes that run tasks of this type."""
    return sorted(
        ad.node_id
        for ad in services.nodes.live()
        if record.name in ad.task_types and record.queue in ad.queues
    )


def parse_type_id(raw: str) -> int:
    """A type id as a path gives it; 404 for anything that cannot be one."""
    if not raw.isdigit() or not 1 <= int(raw) < MAX_TYPE_ID:
        raise TaskTypeNotFoundError(f"Task type {raw} not found")
    return int(raw)


async def find_type(services: Services, type_id: int, tenant: str) -> Found:
    """A type ``tenant`` may see: from the edge's index, else (written through another edge a
    moment ago) from the bucket; 404 ``task_type_not_found`` otherwise."""
    found = services.types.get(type_id, tenant=tenant)
    if found is not None:
        return found
    try:
        record, rev = await services.type_store.get_by_id(type_id)
    except TaskTypeNotFoundError:
        raise TaskTypeNotFoundError(f"Task type {type_id} not found") from None
    services.types.apply(record, rev)
    found = services.types.get(type_id, tenant=tenant)
    if found is None:
        raise TaskTypeNotFoundError(f"Task type {type_id} not found")
    return found


async def find_named(services: Services, tenant: str, name: str) -> Found:
    """The type ``name`` as ``tenant`` sees it (its own, else the system one); 404 otherwise."""
    named = services.types.resolve(tenant, name)
    if named is None:  # registered through another edge a moment ago?
        for scope in (tenant, None):
            found = await services.type_store.find(name, tenant=scope)
            if found is not None:
                services.types.apply(*found)
        named = services.types.resolve(tenant, name)
    if named is None:
        raise TaskTypeNotFoundError(f"Task type {name!r} not found")
    return named


def active_type(found: Found) -> Found:
    if not found[0].is_active:
        raise TaskTypeInactiveError(f"task type {found[0].name!r} is inactive", field="task_type")
    return found


def check_may_change(found: Found, principal: Principal) -> TaskTypeRecord:
    record = found[0]
    if record.is_system:
        raise ForbiddenError(
            f"task type {record.name!r} is registered by peer nodes; it is read-only here"
        )
    if record.created_by not in (None, principal.user) and not principal.is_admin:
        raise ForbiddenError(
            f"task type {record.name!r} belongs to {record.created_by}; "
            "its creator or a tenant admin may change it"
        )
    return record


async def create_type(
    services: Services, principal: Principal, fields: dict[str, Any]
) -> TaskTypeRecord:
    """Register a type of the caller's tenant (``fields``: name, description,
    parameters_schema, metadata)."""
    name = fields["name"]
    quotas, max_bytes = services.quotas, services.quotas.max_task_type_bytes
    for field in ("parameters_schema", "metadata"):
        if fields.get(field) is not None:
            check_size(fields[field], field=field, max_bytes=max_bytes)
    queue = queue_of(check_type_name(name), fields.get("metadata") or {})
    check_new_type(quotas, services.types, principal.tenant, queue, services.rules.queues)
    if await services.type_store.find(name) is not None:
        raise TaskTypeConflictError(
            f"{name!r} is the name of a system task type (registered by peer nodes)",
            field="name",
        )
    record, rev = await services.type_store.create(
        tenant=principal.tenant, created_by=principal.user, **fields
    )
    services.types.apply(record, rev)
    return record


def checked_update(given: dict[str, Any], *, max_bytes: int = MAX_SCHEMA_BYTES) -> dict[str, Any]:
    """The fields of a type change, checked before anything is written (422)."""
    update: dict[str, Any] = {}
    if "description" in given:
        update["description"] = given["description"]
    if "parameters_schema" in given:
        schema = given["parameters_schema"]
        if schema is not None:
            check_size(schema, field="parameters_schema", max_bytes=max_bytes)
            check_schema(schema)
        update["parameters_schema"] = schema
    if "metadata" in given:
        update["metadata"] = given["metadata"] or {}
        check_size(update["metadata"], field="metadata", max_bytes=max_bytes)
        queue_of("checked", update["metadata"])
    if given.get("is_active") is not None:
        update["is_active"] = given["is_active"]
    return update


async def check_changeable(services: Services, principal: Principal, type_id: int) -> None:
    """403 unless the caller may change this type (404 if they cannot see it)."""
    check_may_change(await find_type(services, type_id, principal.tenant), principal)


async def update_type(services: Services, type_id: int, given: dict[str, Any]) -> TaskTypeRecord:
    """Change the fields ``given`` (only those the caller sent) of a type the caller may
    change (``check_changeable`` first)."""
    update = checked_update(given, max_bytes=services.quotas.max_task_type_bytes)
    if "metadata" in update:  # it may send the type's tasks to another queue
        current, _ = await services.type_store.get_by_id(type_id)
        if current.tenant is not None:
            check_queue_count(
                services.quotas,
                services.types,
                current.tenant,
                queue_of(current.name, update["metadata"]),
                services.rules.queues,
                replacing=type_id,
            )

    def change(current: TaskTypeRecord) -> TaskTypeRecord:
        if "metadata" in update:  # metadata.queue_name (or its absence) sets the queue
            return current.model_copy(
                update={**update, "queue_name": queue_of(current.name, update["metadata"])}
            )
        return current.model_copy(update=update)

    record, rev = await services.type_store.update(type_id, change)
    services.types.apply(record, rev)
    return record


async def deactivate_type(services: Services, principal: Principal, type_id: int) -> None:
    """A soft delete: the type stays (and keeps its name), inactive."""
    await check_changeable(services, principal, type_id)
    record, rev = await services.type_store.update(
        type_id, lambda current: current.model_copy(update={"is_active": False})
    )
    services.types.apply(record, rev)
