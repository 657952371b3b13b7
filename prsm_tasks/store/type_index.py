"""TypeIndex: the PRSM_TYPES bucket in memory, with the compiled validators of its schemas.

Edges (``EdgeState.types``) and peer nodes each keep one, fed by a ``BucketWatch``; an edge
also applies the types it writes itself at once, so its caller reads its own writes.

Which type a name means for a tenant: the tenant's own type of that name, else the system
type (registered by peer nodes) of that name. A schema's validator is compiled on first use
and cached per (type id, revision): a changed schema is a new revision, compiled once again.
"""

from __future__ import annotations

from typing import Any

import structlog

from prsm_tasks.errors import InvalidSchemaError, TaskTypeInactiveError
from prsm_tasks.store.types import TaskTypeRecord, decode_type, type_id_of_key
from prsm_tasks.task_schemas import CompiledSchema, compile_schema, validate_task_data

log = structlog.get_logger("prsm.types")

Found = tuple[TaskTypeRecord, int]  # a record and its KV revision


class TypeIndex:
    def __init__(self) -> None:
        self.by_id: dict[int, Found] = {}
        self._names: dict[tuple[str | None, str], int] = {}
        # type id -> (revision, its compiled schema)
        self._validators: dict[int, tuple[int, CompiledSchema | None]] = {}

    # --- applying writes ---------------------------------------------------------------------

    def on_entry(self, key: str, value: bytes | None, rev: int) -> None:
        """The BucketWatch sink; keys other than ``id.<n>`` (counter, name claims) are skipped."""
        type_id = type_id_of_key(key)
        if type_id is None:
            return
        if value is None:
            self._remove(type_id)
            return
        self.apply(decode_type(value), rev)

    def apply(self, record: TaskTypeRecord, rev: int) -> None:
        old = self.by_id.get(record.id)
        if old is not None:
            if old[1] > rev:
                return  # an older write than the one we hold
            self._names.pop((old[0].tenant, old[0].name), None)
        self.by_id[record.id] = (record, rev)
        self._names[(record.tenant, record.name)] = record.id

    def _remove(self, type_id: int) -> None:
        old = self.by_id.pop(type_id, None)
        if old is not None:
            self._names.pop((old[0].tenant, old[0].name), None)
        self._validators.pop(type_id, None)

    # --- reading -----------------------------------------------------------------------------

    def get(self, type_id: int, *, tenant: str | None) -> Found | None:
        """The type with this id if ``tenant`` may see it (its own, or a system type)."""
        found = self.by_id.get(type_id)
        if found is None or found[0].tenant not in (tenant, None):
            return None
        return found

    def resolve(self, tenant: str | None, name: str) -> Found | None:
        """What ``name`` means for ``tenant``: its own type, else the system type."""
        type_id = self._names.get((tenant, name))
        if type_id is None:
            type_id = self._names.get((None, name))
        return self.by_id.get(type_id) if type_id is not None else None

    def visible(self, tenant: str, *, include_inactive: bool = False) -> list[Found]:
        """The tenant's types and the system types it does not shadow, by id."""

        def shown(record: TaskTypeRecord) -> bool:
            if not (include_inactive or record.is_active):
                return False
            if record.tenant is None:
                return (tenant, record.name) not in self._names
            return record.tenant == tenant

        found = [(record, rev) for record, rev in self.by_id.values() if shown(record)]
        return sorted(found, key=lambda item: item[0].id)

    def validator(self, record: TaskTypeRecord, rev: int) -> CompiledSchema | None:
        if record.parameters_schema is None:
            return None
        cached = self._validators.get(record.id)
        if cached is not None and cached[0] == rev:
            return cached[1]
        validator: CompiledSchema | None = None
        try:
            validator = compile_schema(record.parameters_schema)
        except InvalidSchemaError as exc:  # written before a check existed: nothing to apply
            log.warning("task_type_schema_invalid", task_type=record.name, error=exc.message)
        self._validators[record.id] = (rev, validator)
        return validator

    def validate(
        self, found: Found, data: dict[str, Any], *, root: str, field: str = "", api: bool = False
    ) -> None:
        record, rev = found
        validator = self.validator(record, rev)
        if validator is not None:
            validate_task_data(
                validator, data, task_type=record.name, root=root, field_prefix=field, api=api
            )

    def check(
        self,
        task_type: str | None,
        task_data: dict[str, Any],
        *,
        tenant: str | None,
        field: str = "",
    ) -> None:
        """The PRSM routes' check: 400 ``task_type_inactive`` or ``invalid_task_data``.

        A name no type has is let through: handlers may serve types nobody registered.
        """
        if task_type is None:
            return
        found = self.resolve(tenant, task_type)
        if found is None:
            return
        if not found[0].is_active:
            where = f"{field}.task_type" if field else "task_type"
            raise TaskTypeInactiveError(f"task type {task_type!r} is inactive", field=where)
        self.validate(found, task_data, root="task_data", field=field)
