"""JSON Schemas of task types: checked once, compiled once, applied to task data.

Pure (no NATS): producers check task data against its type's schema before writing anything
(the edge answers ``invalid_task_data`` listing every failing field path), and nodes again
before running (see ``prsm_tasks.type_registration``).

Schemas come from tenants, so applying one must take time linear in the data: every
``pattern`` (in ``properties``, ``patternProperties`` and ``propertyNames`` alike) runs on
jsonschema-rs with Rust's linear-time ``regex`` engine, which both says whether data is valid
and lists its problems. A pattern that engine cannot compile (a backreference, a lookaround)
is refused when the type is registered. Python's backtracking ``re`` never sees task data:
``jsonschema`` only checks the schema itself against its meta-schema, for readable messages.
``format`` is an annotation, never checked (``format: regex`` compiles nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any

import jsonschema_rs

from prsm_tasks import wire
from prsm_tasks.errors import (
    InvalidParametersError,
    InvalidSchemaError,
    InvalidTaskDataError,
)

MAX_LISTED_PROBLEMS = 50
# a problem's message quotes the failing value: a long one is cut
MAX_MESSAGE_CHARS = 300
# problems that only say "none of the alternatives fit" come after the precise ones
_VAGUE_KINDS = ("AnyOf", "OneOfNotValid", "OneOfMultipleValid", "Not")


@dataclass(frozen=True)
class CompiledSchema:
    """A schema compiled once by jsonschema-rs, its patterns on the linear-time engine."""

    validator: jsonschema_rs.Validator

    def accepts(self, data: Any) -> bool:
        return bool(self.validator.is_valid(data))


def compile_schema(schema: dict[str, Any]) -> CompiledSchema:
    """Check ``schema`` and compile it for validation; InvalidSchemaError (422) saying why."""
    check_meta_schema(schema)
    try:  # offline: a $ref is never fetched over the network; formats are annotations
        validator = jsonschema_rs.validator_for(
            schema,
            validate_formats=False,
            offline=True,
            pattern_options=jsonschema_rs.RegexOptions(),
        )
    except jsonschema_rs.ValidationError as exc:  # e.g. a pattern the linear engine refuses
        where = "/".join(str(part) for part in exc.instance_path)
        at = f" (at /{where})" if where else ""
        linear = " (patterns run on a linear-time engine: no backreferences or lookaround)"
        hint = linear if "regex" in exc.message else ""
        raise InvalidSchemaError(
            f"parameters_schema cannot be applied{at}: {first_line(exc.message)}{hint}",
            field="parameters_schema",
        ) from exc
    except ValueError as exc:  # a $ref it cannot resolve, a draft it does not know
        raise InvalidSchemaError(
            f"parameters_schema cannot be applied: {first_line(str(exc))}",
            field="parameters_schema",
        ) from exc
    return CompiledSchema(validator)


def check_schema(schema: dict[str, Any]) -> CompiledSchema:
    """A schema fit to register: valid, not nested too deeply, and compilable."""
    return compile_schema(schema)


def check_meta_schema(schema: dict[str, Any]) -> None:
    """InvalidSchemaError (422) unless ``schema`` is a valid JSON Schema."""
    if not isinstance(schema, dict):
        raise InvalidSchemaError(
            "parameters_schema must be a JSON object", field="parameters_schema"
        )
    wire.check_depth(schema, field="parameters_schema", error=InvalidSchemaError)
    # imported here: a node whose types have no schema never loads it (~60 ms of start-up)
    import jsonschema
    import jsonschema.exceptions

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


def first_line(message: str) -> str:
    return message.split("\n", 1)[0].strip()


def field_path(root: str, path: Any) -> str:
    """``task_data.items[2].name`` from a root and an error's instance path."""
    field = root
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else f".{part}"
    return field


def _clipped(message: str) -> str:
    message = first_line(message)
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 1] + "…"


def schema_problems(
    compiled: CompiledSchema, data: dict[str, Any], *, root: str
) -> list[dict[str, str]]:
    """Every failing field path and why, the most relevant first; [] when ``data`` is valid.

    Most relevant: the shallowest precise problem (a vague "none of anyOf" after it); the
    rest in path order."""
    if compiled.accepts(data):
        return []
    errors = list(islice(compiled.validator.iter_errors(data), MAX_LISTED_PROBLEMS * 4))
    if not errors:
        return []

    def relevance(error: jsonschema_rs.ValidationError) -> tuple[bool, int]:
        return type(error.kind).__name__ in _VAGUE_KINDS, len(error.instance_path)

    best = min(errors, key=relevance)
    rest = sorted(
        (error for error in errors if error is not best),
        key=lambda error: [str(part) for part in error.instance_path],
    )
    return [
        {"field": field_path(root, error.instance_path), "message": _clipped(error.message)}
        for error in [best, *rest][:MAX_LISTED_PROBLEMS]
    ]


def validate_task_data(
    compiled: CompiledSchema,
    task_data: dict[str, Any],
    *,
    task_type: str,
    root: str = "task_data",
    field_prefix: str = "",
    api: bool = False,
) -> None:
    """``invalid_task_data`` listing each failing field (400; 422 with ``api``)."""
    invalid = InvalidParametersError if api else InvalidTaskDataError
    try:
        problems = schema_problems(compiled, task_data, root=root)
    except ValueError as exc:  # a value JSON cannot hold (bytes from a native client)
        field = f"{field_prefix}.{root}" if field_prefix else root
        message = f"{root} cannot be checked against the schema of task type {task_type!r}"
        reason = first_line(str(exc))
        raise invalid(
            f"{message}: {reason}", field=field, errors=[{"field": field, "message": reason}]
        ) from exc
    if not problems:
        return
    if field_prefix:
        problems = [{**p, "field": f"{field_prefix}.{p['field']}"} for p in problems]
    listed = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    raise invalid(
        f"{root} does not match the schema of task type {task_type!r}: {listed}{more}",
        field=problems[0]["field"],
        errors=problems,
    )
