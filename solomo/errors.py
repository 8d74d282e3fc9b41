"""RFC 9457 problem details for every error, with a machine-readable ``code`` and field errors.

Litestar answers 400 for validation errors; we answer 422 for well-formed input that breaks a rule and
keep 400 for a body that is not JSON at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from advanced_alchemy.exceptions import NotFoundError as AANotFoundError
from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_405_METHOD_NOT_ALLOWED,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from solomo.db.faults import DatabaseFault, database_fault, mark_for_retry, sqlstate_of

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger("solomo.errors")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_DEFAULT_CODES = {
    HTTP_400_BAD_REQUEST: "bad_request",
    HTTP_401_UNAUTHORIZED: "unauthorized",
    HTTP_403_FORBIDDEN: "forbidden",
    HTTP_404_NOT_FOUND: "not_found",
    HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    HTTP_409_CONFLICT: "conflict",
    HTTP_413_REQUEST_ENTITY_TOO_LARGE: "body_too_large",
    HTTP_422_UNPROCESSABLE_ENTITY: "validation_failed",
    HTTP_429_TOO_MANY_REQUESTS: "rate_limited",
}


class FieldError(msgspec.Struct):
    """One field at fault: ``field`` is a dotted path into the body, or the parameter's name."""

    field: str
    message: str
    source: str = "body"


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, plus ``code`` and field ``errors``."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ApiError(HTTPException):
    """An error the API means to give: status, a stable code, a sentence, and optionally fields at fault."""

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=detail, status_code=status_code, headers=dict(headers or {}))
        self.code = code
        self.errors = list(errors) if errors else None
        self.extra_members = dict(extra or {})


def not_found(what: str = "resource") -> ApiError:
    """The same answer for an id that does not exist and one of another brand."""
    return ApiError(HTTP_404_NOT_FOUND, "not_found", f"{what} not found")


def forbidden(detail: str, code: str = "forbidden") -> ApiError:
    return ApiError(HTTP_403_FORBIDDEN, code, detail)


def conflict(code: str, detail: str, **extra: Any) -> ApiError:
    return ApiError(HTTP_409_CONFLICT, code, detail, extra=extra)


def invalid(field: str, message: str, *, source: str = "body", code: str = "validation_failed") -> ApiError:
    """A 422 naming one field."""
    return ApiError(
        HTTP_422_UNPROCESSABLE_ENTITY, code, f"{field}: {message}", errors=[FieldError(field, message, source)]
    )


def invalid_many(errors: Sequence[FieldError], detail: str = "The request has invalid fields") -> ApiError:
    return ApiError(HTTP_422_UNPROCESSABLE_ENTITY, "validation_failed", detail, errors=errors)


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_MISSING_PARAM = re.compile(r"Missing required (\w+) parameter '([^']+)'")


def _field_errors(exc: ValidationException) -> list[FieldError]:
    """Turn Litestar's validation messages (built from msgspec's) into field errors with full paths."""
    errors: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        key = str(item.get("key", "") or "")
        raw_source = item.get("source") or "body"
        source = str(getattr(raw_source, "value", raw_source))
        if key == "data":
            key = ""
        if key.startswith("data."):
            key = key[len("data.") :]
        for pattern in (_UNKNOWN_FIELD, _MISSING_FIELD):
            found = pattern.search(message)
            if found:
                key = f"{key}.{found.group(1)}" if key else found.group(1)
        errors.append(FieldError(field=key or "body", message=message, source=source))
    if not errors:
        found = _MISSING_PARAM.search(str(exc.detail))
        if found:
            errors.append(FieldError(found.group(2), "required parameter is missing", found.group(1)))
    return errors


def _as_sent(request: Request[Any, Any, Any], error: FieldError) -> FieldError:
    """Name a parameter the way the client sent it (``from``), not by the handler's argument (``from_date``)."""
    try:
        parameter = request.route_handler.parsed_fn_signature.parameters.get(error.field)
    except Exception:  # no handler resolved (the error came before routing)
        return error
    alias = getattr(getattr(parameter, "kwarg_definition", None), "name", None)
    if isinstance(alias, str) and alias and alias != error.field:
        return FieldError(field=alias, message=error.message, source=error.source)
    return error


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str | None,
    *,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response[Any]:
    problem = Problem(
        type=f"https://solomo.dev/problems/{code.replace('_', '-')}",
        title=_TITLES.get(status, "Error"),
        status=status,
        code=code,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    body: Any = msgspec.to_builtins(problem)
    if extra:
        body.update(msgspec.to_builtins(dict(extra)))
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The one exception handler: everything the API answers with an error goes through here."""
    if isinstance(exc, ExceptionGroup) and exc.exceptions:
        # Dependency clean-ups running side by side group their errors; the first one is the answer.
        return handle_exception(request, exc.exceptions[0])
    if isinstance(exc, ApiError):
        return problem_response(
            request,
            exc.status_code,
            exc.code,
            exc.detail,
            errors=exc.errors,
            headers=exc.headers,
            extra=exc.extra_members,
        )
    if isinstance(exc, ValidationException):
        errors = [_as_sent(request, e) for e in _field_errors(exc)]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) if errors else str(exc.detail)
        return problem_response(request, HTTP_422_UNPROCESSABLE_ENTITY, "validation_failed", detail, errors=errors)
    if isinstance(exc, AANotFoundError):
        return problem_response(request, HTTP_404_NOT_FOUND, "not_found", "resource not found")
    if isinstance(exc, NotAuthorizedException):
        return problem_response(
            request,
            HTTP_401_UNAUTHORIZED,
            "unauthorized",
            exc.detail,
            headers={"WWW-Authenticate": 'Bearer realm="solomo"', **(exc.headers or {})},
        )
    if isinstance(exc, PermissionDeniedException):
        return problem_response(request, HTTP_403_FORBIDDEN, "forbidden", exc.detail)
    if isinstance(exc, NotFoundException):
        return problem_response(request, HTTP_404_NOT_FOUND, "not_found", "no such resource")
    if isinstance(exc, HTTPException):
        status = exc.status_code
        code = _DEFAULT_CODES.get(status, "error")
        detail = exc.detail
        if status == HTTP_400_BAD_REQUEST and isinstance(exc, ClientException):
            # The only 400 left: a body that does not parse as JSON.
            code, detail = "malformed_json", f"The body is not valid JSON: {exc.detail}"
        if status >= HTTP_500_INTERNAL_SERVER_ERROR:
            logger.error("server error", exc_info=exc)
            detail = "An internal error occurred" if status == HTTP_500_INTERNAL_SERVER_ERROR else detail
        return problem_response(request, status, code, detail, headers=exc.headers)
    if (sqlstate_of(exc) or "").startswith("22"):
        # A data exception (value out of range, bad encoding…) that validation should have caught: still the
        # client's input, so a 422 rather than a 500, and logged so the missing check gets written.
        logger.warning("database refused a value", exc_info=exc)
        return problem_response(
            request, HTTP_422_UNPROCESSABLE_ENTITY, "invalid_value", "A value was refused as malformed"
        )
    fault = database_fault(exc)
    if fault is not None:
        return _database_fault_response(request, exc, fault)
    logger.exception("unhandled error", exc_info=exc)
    return problem_response(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "An internal error occurred")


def _database_fault_response(request: Request[Any, Any, Any], exc: Exception, fault: DatabaseFault) -> Response[Any]:
    """Lost, refused or timed-out connections and lost races: a 503 the client may retry, never a 500."""
    if fault.retryable:
        mark_for_retry(request.scope)  # type: ignore[arg-type]
    logger.warning("database fault %s: %s", fault.code, exc)
    return problem_response(
        request, HTTP_503_SERVICE_UNAVAILABLE, fault.code, fault.detail, headers={"Retry-After": str(fault.retry_after)}
    )


EXCEPTION_HANDLERS: Mapping[type[Exception] | int, Any] = {Exception: handle_exception}


def join_path(prefix: str, path: str) -> str:
    """``location`` + ``coordinates[0]`` → ``location.coordinates[0]``; either may be empty."""
    if not path:
        return prefix
    if not prefix:
        return path
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


def invalid_geometry(prefix: str, exc: Exception) -> ApiError:
    """A 422 for a :class:`solomo.geo.GeometryError`, its path put under the request field ``prefix``."""
    path = getattr(exc, "path", "")
    message = getattr(exc, "message", str(exc))
    return invalid(join_path(prefix, path), message, code="invalid_geometry")
