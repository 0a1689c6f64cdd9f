"""RFC 9457 problem details for every error the hub's API answers (`application/problem+json`).

`install_problem_handlers(app)` (called by `create_app`) turns HTTPException (FastAPI's and Starlette's, so unknown
paths and wrong methods too), request validation errors, the data layer's `RuleViolation`, a full evidence store (507
with Retry-After) and unexpected exceptions into one shape:

    {"type": "https://cityops.dev/problems/not-found", "title": "Not Found", "status": 404,
     "detail": "work order 7 not found", "instance": "/api/v1/work-orders/7"}

`type` is stable per kind of error (clients branch on it, never on `detail`); `detail` is always a readable string;
validation problems add `errors`, a list of {loc, msg, type}. Headers of the original exception (WWW-Authenticate,
Retry-After) are kept. A route that needs extra members raises `Problem(status, detail, errors=..., **extensions)`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud_hub.core.errors import RuleViolation
from cloud_hub.evidence.store import EvidenceStoreFull

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://cityops.dev/problems/"

# One stable type per kind of error; other statuses get RFC 9457's "about:blank" (the status says it all).
PROBLEM_TYPES: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "rate-limited",
    500: "internal",
    502: "bad-gateway",
    503: "unavailable",
    507: "insufficient-storage",
}
# A full evidence store is told to retry after this long: space comes back by retention or an operator, not at once.
STORE_FULL_RETRY_AFTER_S = 60


def problem_type(status: int) -> str:
    slug = PROBLEM_TYPES.get(status)
    return PROBLEM_BASE + slug if slug else "about:blank"


class ProblemErrorItem(BaseModel):
    """One bad field: where (`loc`, e.g. ["body", "polygon"]), what is wrong (`msg`), a machine code (`type`)."""

    loc: list[str | int]
    msg: str
    type: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details; extension members may follow (e.g. `errors`, `file`)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[ProblemErrorItem] | None = None


# For `responses=` in route decorators, so the OpenAPI schema shows the error shape (install_problem_handlers puts
# ProblemDetails into the schema's components).
PROBLEM_RESPONSE: dict[str, Any] = {
    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {**PROBLEM_RESPONSE, "description": HTTPStatus(status).phrase} for status in statuses}


class Problem(StarletteHTTPException):
    """An HTTP error with problem extension members: `errors` (list of {loc, msg, type}) and any others."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        type_: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(status, detail, headers=dict(headers) if headers else None)
        self.errors = [dict(e) for e in errors] if errors is not None else None
        self.type_ = type_
        self.extensions = extensions


def problem_body(
    status: int,
    detail: str,
    instance: str,
    *,
    type_: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem object (pure); standard members win over extensions of the same name."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = dict(extensions or {})
    body.update(type=type_ or problem_type(status), title=title, status=status, detail=detail, instance=instance)
    if errors is not None:
        body["errors"] = [_error_item(e) for e in errors]
    return body


def _error_item(error: Mapping[str, Any]) -> dict[str, Any]:
    item = {
        "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
        "type": str(error.get("type", "value_error")),
    }
    if isinstance(error.get("path"), str):  # a JSON path some validators add (e.g. the camera-rules schema)
        item["path"] = error["path"]
    return item


def _field(loc: Sequence[Any]) -> str:
    # ("body", "features", 0, "geometry") -> "features[0].geometry"; the request part names where to look.
    parts = list(loc[1:]) if loc and loc[0] == "body" and len(loc) > 1 else list(loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(request)"


def validation_summary(errors: Sequence[Mapping[str, Any]]) -> str:
    """One line naming the first bad field, e.g. "polygon: Field required (and 2 more problems)"."""
    if not errors:
        return "the request is invalid"
    first = errors[0]
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{_field(first.get('loc', ()))}: {first.get('msg', 'invalid')}{more}"


def _response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(body), status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def _from_detail(status: int, detail: Any, instance: str, **kw: Any) -> dict[str, Any]:
    """A problem from an exception's detail, whatever shape the raiser gave it (string, list, mapping)."""
    if isinstance(detail, str):
        return problem_body(status, detail, instance, **kw)
    if isinstance(detail, list) and all(isinstance(e, Mapping) for e in detail):
        return problem_body(status, validation_summary(detail), instance, errors=detail, **kw)
    if isinstance(detail, Mapping):
        text = detail.get("detail") or detail.get("message")
        rest = {k: v for k, v in detail.items() if k not in ("detail", "message")}
        extensions = {**rest, **kw.pop("extensions", {})}
        return problem_body(
            status, str(text) if text else HTTPStatus(status).phrase, instance, extensions=extensions, **kw
        )
    return problem_body(status, HTTPStatus(status).phrase if detail is None else str(detail), instance, **kw)


def problem_response(
    request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None, **extensions: Any
) -> JSONResponse:
    """A problem answer for a route that returns its error instead of raising it (e.g. to clear a cookie on it)."""
    return _response(status, problem_body(status, detail, request.url.path, extensions=extensions), headers)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    extra: dict[str, Any] = {}
    if isinstance(exc, Problem):
        extra = {"type_": exc.type_, "errors": exc.errors, "extensions": exc.extensions}
    body = _from_detail(exc.status_code, exc.detail, request.url.path, **extra)
    return _response(exc.status_code, body, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    body = problem_body(422, validation_summary(errors), request.url.path, errors=errors)
    return _response(422, body)


async def _rule_violation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RuleViolation)
    # Subclasses may carry `errors` (bad fields) and `extensions` (more members), e.g. cloud_hub.admin.errors.
    errors = getattr(exc, "errors", None)
    extensions = getattr(exc, "extensions", None)
    body = problem_body(exc.status, exc.detail, request.url.path, errors=errors, extensions=extensions)
    return _response(exc.status, body)


async def _store_full(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EvidenceStoreFull)
    log.warning("upload refused with 507: %s", exc)
    # 507, not 500: the request was fine and the hub is up; the client keeps the picture and retries later.
    detail = f"{exc.strerror}; nothing was stored, retry later"
    body = problem_body(507, detail, request.url.path, extensions={"retry_after_s": STORE_FULL_RETRY_AFTER_S})
    return _response(507, body, {"Retry-After": str(STORE_FULL_RETRY_AFTER_S)})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises the exception after this answer is sent, so the server logs its traceback once.
    body = problem_body(500, "internal error; the hub's log has the details", request.url.path)
    return _response(500, body)


def _problem_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI schema with FastAPI's default 422 answer (HTTPValidationError, `detail` as a list) replaced by
    the problem the handlers really send, so generated clients get the right error type."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components.setdefault("ProblemDetails", problem)
    default_422 = "#/components/schemas/HTTPValidationError"
    replacement = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422") if isinstance(operation, dict) else None
            content = (answer or {}).get("content", {})
            if content.get("application/json", {}).get("schema", {}).get("$ref") == default_422:
                answer["content"] = replacement
    if default_422 not in str(schema.get("paths")):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return schema


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error as a problem, and document that in the OpenAPI schema."""
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RuleViolation, _rule_violation)
    app.add_exception_handler(EvidenceStoreFull, _store_full)
    app.add_exception_handler(Exception, _unexpected)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _problem_schema(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
