"""JSON Schemas of task types: checked once, compiled once, applied to task data.

Pure (no NATS): producers check task data against its type's schema before writing anything
(the edge answers ``invalid_task_data`` listing every failing field path), and nodes again
before running (see ``prsm_tasks.type_registration``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
import jsonschema.exceptions

from prsm_tasks.errors import (
    InvalidParametersError,
    InvalidSchemaError,
    InvalidTaskDataError,
    UnprocessableError,
    ValidationError,
)

MAX_LISTED_PROBLEMS = 50

Validator = jsonschema.protocols.Validator

try:
    import jsonschema_rs
except ImportError:  # then jsonschema alone decides: the same answers, slower
    jsonschema_rs = None


@dataclass(frozen=True)
class CompiledSchema:
    """A schema compiled once. A fast validator (jsonschema-rs, when installed; ~1 µs) says
    whether data is valid on the hot path; jsonschema, the reference, lists the problems of a
    reject, and decides alone when the fast one cannot take the schema (or says no)."""

    full: Validator
    fast: Any = None

    def accepts_fast(self, data: Any) -> bool:
        if self.fast is None:
            return False
        try:
            return bool(self.fast.is_valid(data))
        except Exception:  # data it cannot read (bytes from a native client): ask jsonschema
            return False


def compile_schema(schema: dict[str, Any]) -> CompiledSchema:
    """Check ``schema`` (InvalidSchemaError, 422) and compile it for validation."""
    full = check_schema(schema)
    fast = None
    if jsonschema_rs is not None:
        try:  # offline: a $ref is never fetched over the network; formats are annotations
            fast = jsonschema_rs.validator_for(schema, validate_formats=False, offline=True)
        except Exception:  # a schema (or regex) it cannot compile: jsonschema alone
            fast = None
    return CompiledSchema(full, fast)


def check_schema(schema: dict[str, Any]) -> Validator:
    """A validator for ``schema``; InvalidSchemaError (422) saying why when it is not valid."""
    if not isinstance(schema, dict):
        raise InvalidSchemaError(
            "parameters_schema must be a JSON object", field="parameters_schema"
        )
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    try:
        validator_class.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        at = f" (at /{where})" if where else ""
        raise InvalidSchemaError(
            f"parameters_schema is not a valid JSON Schema{at}: {exc.message}",
            field="parameters_schema",
        ) from exc
    except RecursionError as exc:
        raise InvalidSchemaError(
            "parameters_schema is nested too deeply", field="parameters_schema"
        ) from exc
    return validator_class(schema)


def field_path(root: str, path: Any) -> str:
    """``task_data.items[2].name`` from a root and a jsonschema error path."""
    field = root
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else f".{part}"
    return field


def schema_problems(
    validator: Validator | CompiledSchema, data: dict[str, Any], *, root: str
) -> list[dict[str, str]]:
    """Every failing field path and why, the most relevant first; [] when ``data`` is valid."""
    if isinstance(validator, CompiledSchema):
        if validator.accepts_fast(data):
            return []
        validator = validator.full
    errors = list(validator.iter_errors(data))
    if not errors:
        return []
    best = jsonschema.exceptions.best_match(errors)
    rest = sorted(
        (error for error in errors if error is not best),
        key=lambda error: [str(part) for part in error.absolute_path],
    )
    ordered = [best, *rest]
    return [
        {"field": field_path(root, error.absolute_path), "message": error.message}
        for error in ordered[:MAX_LISTED_PROBLEMS]
    ]


def validate_task_data(
    validator: Validator | CompiledSchema,
    task_data: dict[str, Any],
    *,
    task_type: str,
    root: str = "task_data",
    field_prefix: str = "",
    api: bool = False,
) -> None:
    """``invalid_task_data`` listing each failing field (400; 422 with ``api``)."""
    try:
        problems = schema_problems(validator, task_data, root=root)
    except Exception as exc:  # e.g. a $ref the schema cannot resolve: the type's fault
        unusable = UnprocessableError if api else ValidationError
        raise unusable(
            f"the schema of task type {task_type!r} cannot be applied: {exc}", field="task_type"
        ) from exc
    if not problems:
        return
    if field_prefix:
        problems = [{**p, "field": f"{field_prefix}.{p['field']}"} for p in problems]
    listed = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    invalid = InvalidParametersError if api else InvalidTaskDataError
    raise invalid(
        f"{root} does not match the schema of task type {task_type!r}: {listed}{more}",
        field=problems[0]["field"],
        errors=problems,
    )
