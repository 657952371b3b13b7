"""A hub request's JSON body, validated by its model, every field at fault named: the
document's ``field_errors`` lists them all, where the edge's other bodies name the first."""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic
from aiohttp import web

from prsm_tasks.edge.http.body import read_body
from prsm_tasks.errors import ValidationError

M = TypeVar("M", bound=pydantic.BaseModel)
MAX_FIELD_ERRORS = 50


def field_of(location: tuple[Any, ...]) -> str:
    field = ""
    for part in location:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return field or "body"


def all_field_errors(exc: pydantic.ValidationError) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in exc.errors()[:MAX_FIELD_ERRORS]:
        kind = problem.get("type")
        message = "unknown field" if kind == "extra_forbidden" else str(problem.get("msg"))
        if kind == "missing":
            message = "this field is required"
        found.setdefault(field_of(tuple(problem.get("loc", ()))), []).append(message)
    return found


async def read_hub_body(request: web.Request, model: type[M], *, max_bytes: int) -> M:
    """Read as every body of the edge is read (size, JSON, an object), then validated with
    all of its problems kept."""
    plain = await read_body(request, pydantic.RootModel[dict[str, Any]], max_bytes=max_bytes)
    try:
        return model.model_validate(plain.root)
    except pydantic.ValidationError as exc:
        errors = all_field_errors(exc)
        first = next(iter(errors))
        raise ValidationError(
            f"{first}: {errors[first][0]}", field=first, field_errors=errors
        ) from exc
