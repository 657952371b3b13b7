"""The route table, the OpenAPI 3.1 document generated from it and the pydantic models, and
the /docs page (Swagger UI 5, its files served by the edge itself: no CDN needed)."""

from __future__ import annotations

import importlib.resources
import mimetypes
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from prsm_tasks.edge.http.schemas import ErrorResponse
from prsm_tasks.errors import NotFoundError

RouteHandler = Callable[..., Awaitable[web.StreamResponse]]
REF = "#/components/schemas/{model}"
STATUS_TEXT = {
    400: "Bad request: validation_error, invalid_task_data, queue_not_available",
    401: "unauthorized: missing, malformed, expired or wrongly signed bearer token",
    403: "forbidden: the task belongs to another user of your tenant",
    404: "not found (task_not_found; another tenant's task is not revealed)",
    405: "method_not_allowed",
    409: "conflict: task_not_completed, task_already_finished, task_not_finished, "
    "illegal_transition, claim_lost or task_type_exists",
    413: "payload_too_large: the body is over the edge's limit",
    422: "unprocessable (the /api/… routes): validation_error, invalid_task_data (with every "
    "failing field in `errors`), invalid_schema or task_type_too_large",
    429: "rate_limited (see the Retry-After header, whole seconds), or a tenant quota: "
    "unfinished_task_limit, task_type_limit, queue_limit (`limit` names the setting)",
    500: "internal_error: logged with the request id, never a stack trace",
    503: "service_unavailable (NATS unreachable) or worker_unavailable",
    507: "work_stream_full: the deployment's work stream holds all it may; nothing was "
    "written, try again later",
}
OK_TEXT = {200: "OK", 201: "Created", 204: "No Content"}
DOCS_FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "index.css",
    "favicon-16x16.png",
    "favicon-32x32.png",
)


@dataclass(frozen=True, kw_only=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    schema: dict[str, Any]
    required: bool = False
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class Route:
    method: str
    path: str
    handler: RouteHandler
    summary: str
    tag: str = "tasks"
    auth: bool = True
    optional_auth: bool = False  # an open route that answers more to some tokens (/health)
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    params: tuple[Param, ...] = ()
    # for non-JSON answers: content type -> JSON schema of the body
    content: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[int, dict[str, Any]] = field(default_factory=dict)
    # OpenAPI links of the 200 answer: name -> (operationId, {parameter: runtime expression})
    links: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    ok_status: int = 200  # the success status (201 for a create, 204 with no body)
    # the body of its errors, when its surface renders its own (the hub's); else ErrorResponse
    error_model: type[BaseModel] | None = None
    no_content: tuple[int, ...] = ()  # further success statuses without a body (204)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


def build_spec(routes: Sequence[Route], *, title: str, version: str) -> dict[str, Any]:
    modes: dict[type[BaseModel], JsonSchemaMode] = {ErrorResponse: "serialization"}
    for route in routes:
        if route.request is not None:
            modes[route.request] = "validation"
        if route.response is not None:
            modes[route.response] = "serialization"
        if route.error_model is not None:
            modes[route.error_model] = "serialization"
    keys, schema = models_json_schema(list(modes.items()), ref_template=REF)
    refs = {model: keys[(model, mode)]["$ref"] for model, mode in modes.items()}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The PRSM Task API of a prsm_tasks edge node.",
        },
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearerAuth": []}],
    }


def operation(route: Route, refs: dict[type[BaseModel], str]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": OK_TEXT.get(route.ok_status, "OK")}
    if route.response is not None:
        ok["content"] = {"application/json": {"schema": {"$ref": refs[route.response]}}}
    elif route.content:
        ok["content"] = {kind: {"schema": body} for kind, body in route.content.items()}
    responses: dict[str, Any] = {str(route.ok_status): ok}
    for code in route.no_content:
        responses[str(code)] = {"description": OK_TEXT.get(code, "No Content")}
    error_ref = refs[route.error_model or ErrorResponse]
    error_schema = {"application/json": {"schema": {"$ref": error_ref}}}
    codes = set(route.errors) | {500} | ({401} if route.auth else set())
    for code in sorted(codes):
        if code == 503 and route.response is not None and route.path == "/health":
            body = {"application/json": {"schema": {"$ref": refs[route.response]}}}
        else:
            body = error_schema
        responses[str(code)] = {"description": STATUS_TEXT.get(code, "error"), "content": body}
    for code, headers in route.headers.items():
        responses[str(code)]["headers"] = headers
    if route.links:
        ok["links"] = {
            name: {"operationId": target, "parameters": parameters}
            for name, (target, parameters) in route.links.items()
        }
    result: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": responses,
    }
    if not route.auth:
        result["security"] = [{}, {"bearerAuth": []}] if route.optional_auth else []
    if route.params:
        result["parameters"] = [
            {
                "name": param.name,
                "in": param.where,
                "required": param.required or param.where == "path",
                "schema": param.schema,
                **({"description": param.description} if param.description else {}),
            }
            for param in route.params
        ]
    if route.request is not None:
        result["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": refs[route.request]}}},
        }
    return result


# --- /docs ----------------------------------------------------------------------------------

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>prsm-tasks API</title>
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="stylesheet" href="/docs/static/index.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/docs/static/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      validatorUrl: null,  // no badge fetched from validator.swagger.io with our spec URL
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout"
    });
  </script>
</body>
</html>
"""


def docs_static_dir() -> Any:
    return importlib.resources.files("swagger_ui") / "static"


async def docs_page(request: web.Request, *_: Any) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html")


async def docs_static(request: web.Request, *_: Any) -> web.Response:
    name = request.match_info["name"]
    if name not in DOCS_FILES:
        raise NotFoundError(f"no docs file {name}")
    body = (docs_static_dir() / name).read_bytes()
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind == "text/javascript":
        kind = "application/javascript"
    return web.Response(
        body=body, content_type=kind, headers={"Cache-Control": "public, max-age=86400"}
    )


DOCS_CONTENT = {
    "application/javascript": {"type": "string"},
    "text/css": {"type": "string"},
    "image/png": {"type": "string", "contentMediaType": "image/png"},
}
