"""A request's JSON body, validated by the surface's pydantic model."""

from __future__ import annotations

from typing import TypeVar

import orjson
import pydantic
from aiohttp import web

from prsm_tasks import wire
from prsm_tasks.edge.http.errors import from_pydantic
from prsm_tasks.errors import PayloadTooLargeError, ValidationError

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
