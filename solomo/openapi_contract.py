"""Every answer an operation can give, documented from one place.

Litestar documents a success and, for handlers with parameters, its own default 400 schema. This module
replaces the error side of every operation with what the API really sends: RFC 9457 problem details
(``application/problem+json``, the ``Problem`` schema) for each status the route can answer, with the
``code`` values it may carry named in the description. Most statuses follow from the route itself:

* authenticated → 401; guarded → 403 (the guard's codes);
* a path parameter → 404; any parameter or a body → 422;
* a JSON body → 400 (not JSON), 413 (over the size cap), 415 (not sent as JSON);
* an ``Idempotency-Key`` header → 400 (malformed key), 409 (in flight), 422 (reused with another body);
* an authenticated ``/v1`` route that changes something → 403 ``csrf_failed`` (the console's session cookie sent
  without the session's CSRF token, or from another site: solomo/console/sessions.py);
* every ``/v1`` route → 429 (request budget, with ``Retry-After`` and ``RateLimit`` headers) and 503
  (database unreachable or too slow, with ``Retry-After``).

What only the handler knows (a 409 ``offer_exhausted``, a 410 ``expired``…) is declared next to it with
:func:`problems`, e.g. ``@post(..., opt=problems({409: ["offer_exhausted"]}))``.

It also marks the request bodies that refuse unknown fields with ``additionalProperties: false`` (GeoJSON
objects allow foreign members, so they do not refuse them and keep it open), and clears the bearer requirement
on routes that take no credential (health).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.routes import HTTPRoute

from solomo.errors import PROBLEM_JSON

#: The keys in a handler's ``opt`` under which :func:`problems` keeps its declarations.
PROBLEMS_OPT = "problems"
ALSO_OPT = "also_succeeds"
#: The header that makes a POST idempotent (solomo/idempotency.py).
IDEMPOTENCY_HEADER = "Idempotency-Key"

_PROBLEM_REF = Reference(ref="#/components/schemas/Problem")
_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
    description="Seconds to wait before trying again.",
)
_RATE_LIMIT_HEADERS = {
    "Retry-After": _RETRY_AFTER,
    "RateLimit": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        description=(
            "The caller's remaining requests and the seconds until the budget is whole again, "
            'e.g. `"key";r=0;t=3` (draft-ietf-httpapi-ratelimit-headers).'
        ),
    ),
    "RateLimit-Policy": OpenAPIHeader(
        schema=Schema(type=OpenAPIType.STRING),
        description=(
            'The budget\'s quota and window in seconds, e.g. `"key";q=1000;w=10` (`"member"` for member tokens).'
        ),
    ),
}
_HEADERS: dict[int, dict[str, OpenAPIHeader]] = {
    429: _RATE_LIMIT_HEADERS,
    503: {"Retry-After": _RETRY_AFTER},
    401: {
        "WWW-Authenticate": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), description='`Bearer realm="solomo"`')
    },
}


def problems(
    declared: Mapping[int, Iterable[str]], *, also: Mapping[int, str] | None = None, **opt: Any
) -> dict[str, Any]:
    """A handler's ``opt`` declaring the error answers only it can give (status → the ``code`` values it uses),
    and ``also`` the other successes it answers with the same body (status → what that one means)."""
    declarations = {PROBLEMS_OPT: {status: tuple(codes) for status, codes in declared.items()}}
    return {**opt, **declarations, ALSO_OPT: dict(also or {})}


def document_errors(app: Litestar) -> None:
    """Rewrite the error answers of every operation in ``app``'s OpenAPI document (built here, once)."""
    openapi = app.openapi_schema
    _add_problem_schemas(openapi)
    bodies: list[Any] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path_item = (openapi.paths or {}).get(route.path_format or "/")
        if path_item is None:
            continue
        for method, (handler, _) in route.route_handler_map.items():
            operation = getattr(path_item, str(method).lower(), None)
            if not isinstance(operation, Operation) or not handler.resolve_include_in_schema():
                continue
            answers = answers_of(handler, operation, route.path_format or "/")
            _document(operation, answers)
            _add_other_successes(operation, handler)
            if not _authenticated(handler):
                operation.security = []
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None:
                bodies.append(data.annotation)
    _close_strict_bodies(openapi, bodies)


def answers_of(handler: HTTPRouteHandler, operation: Operation, path: str) -> dict[int, set[str]]:
    """The error statuses ``handler`` can answer, each with the ``code`` values it may carry."""
    answers: dict[int, set[str]] = {}

    def add(status: int, *codes: str) -> None:
        answers.setdefault(status, set()).update(codes)

    parameters = [p for p in operation.parameters or [] if not isinstance(p, Reference)]
    if _authenticated(handler):
        add(401, "unauthorized")
    guards = handler.resolve_guards()
    if guards:
        add(403, *_guard_codes(guards))
    if any(p.param_in == ParamType.PATH or _names_an_id(p.schema) for p in parameters):
        add(404, "not_found")  # a path id, or a query filter naming a store, offer… that must exist
    if parameters or operation.request_body is not None:
        add(422, "validation_failed")
    if operation.request_body is not None:
        add(400, "malformed_json")
        add(413, "body_too_large")
        add(415, "unsupported_media_type")
    if any(p.param_in == ParamType.HEADER and p.name == IDEMPOTENCY_HEADER for p in parameters):
        add(400, "invalid_idempotency_key")
        add(409, "idempotency_key_in_use")
        add(422, "idempotency_key_reused")
    if path.startswith("/v1/") and _authenticated(handler) and not handler.http_methods <= {"GET", "HEAD"}:
        add(403, "csrf_failed")  # signed in through the console's cookie, without its CSRF token
    if path.startswith("/v1/"):
        add(429, "rate_limited")
        add(503, "database_unavailable", "database_busy", "database_timeout", "database_conflict", "commit_failed")
    for status, codes in (handler.opt.get(PROBLEMS_OPT) or {}).items():
        add(int(status), *codes)
    return answers


def _names_an_id(schema: Schema | Reference | None) -> bool:
    if not isinstance(schema, Schema):
        return False
    return schema.format == OpenAPIFormat.UUID or any(_names_an_id(option) for option in schema.one_of or [])


def _authenticated(handler: HTTPRouteHandler) -> bool:
    """Through the auth middleware, or a hot route that authenticates in its guard and its one statement."""
    return not handler.opt.get("exclude_from_auth") or bool(handler.opt.get("solomo_hot_route"))


def _guard_codes(guards: Iterable[Any]) -> list[str]:
    from solomo.auth.guards import MEMBER  # guards import the auth middleware, which imports this module's peers

    if all(guard is MEMBER for guard in guards):
        return ["member_token_required"]
    return ["api_key_required", "role_not_allowed"]


def _document(operation: Operation, answers: Mapping[int, set[str]]) -> None:
    kept = {status: answer for status, answer in (operation.responses or {}).items() if int(status) < 400}
    for status in sorted(answers):
        codes = ", ".join(f"`{code}`" for code in sorted(answers[status]))
        kept[str(status)] = OpenAPIResponse(
            description=f"{HTTPStatus(status).phrase}: problem details; `code` is one of {codes}.",
            content={PROBLEM_JSON: OpenAPIMediaType(schema=_PROBLEM_REF)},
            headers=dict(_HEADERS.get(status, {})) or None,
        )
    operation.responses = kept


def _add_other_successes(operation: Operation, handler: HTTPRouteHandler) -> None:
    """A 200 beside the 201 of an upsert: the same body, another meaning."""
    responses = operation.responses or {}
    main = responses.get(str(handler.status_code))
    for status, description in (handler.opt.get(ALSO_OPT) or {}).items():
        if isinstance(main, OpenAPIResponse):
            responses[str(status)] = OpenAPIResponse(description=description, content=main.content)


def _add_problem_schemas(openapi: OpenAPI) -> None:
    from solomo.errors import FieldError, Problem  # the Structs the exception handler sends

    schemas = openapi.components.schemas
    schemas["FieldError"] = Schema(
        type=OpenAPIType.OBJECT,
        required=["field", "message"],
        properties={
            "field": Schema(type=OpenAPIType.STRING, description="A dotted path into the body, or the parameter."),
            "message": Schema(type=OpenAPIType.STRING),
            "source": Schema(
                type=OpenAPIType.STRING,
                description="Where the field is: `body`, `query`, `path` or `header`.",
            ),
        },
        description=FieldError.__doc__,
    )
    schemas["Problem"] = Schema(
        type=OpenAPIType.OBJECT,
        required=["type", "title", "status", "code"],
        properties={
            "type": Schema(type=OpenAPIType.STRING, description="A URI naming the kind of problem."),
            "title": Schema(type=OpenAPIType.STRING),
            "status": Schema(type=OpenAPIType.INTEGER),
            "code": Schema(type=OpenAPIType.STRING, description="Machine-readable; each answer lists its values."),
            "detail": Schema(type=OpenAPIType.STRING),
            "instance": Schema(type=OpenAPIType.STRING),
            "errors": Schema(
                type=OpenAPIType.ARRAY,
                items=Reference(ref="#/components/schemas/FieldError"),
                description="The fields at fault, each named.",
            ),
        },
        description=Problem.__doc__,
    )


def _close_strict_bodies(openapi: OpenAPI, bodies: Iterable[Any]) -> None:
    """``additionalProperties: false`` on the body schemas whose Struct refuses unknown fields."""
    schemas = openapi.components.schemas
    for struct in _strict_structs(bodies):
        schema = schemas.get(struct.__name__)
        if isinstance(schema, Schema):
            schema.additional_properties = False


_SEQUENCE_INFOS = (
    msgspec.inspect.ListType,
    msgspec.inspect.SetType,
    msgspec.inspect.FrozenSetType,
    msgspec.inspect.VarTupleType,
)


def _strict_structs(annotations: Iterable[Any]) -> set[type[msgspec.Struct]]:
    strict: set[type[msgspec.Struct]] = set()
    seen: set[int] = set()
    pending: list[Any] = list(msgspec.inspect.multi_type_info(list(annotations)))
    while pending:
        info = pending.pop()
        if id(info) in seen:
            continue
        seen.add(id(info))
        if isinstance(info, msgspec.inspect.StructType):
            if info.forbid_unknown_fields:
                strict.add(info.cls)
            pending.extend(field.type for field in info.fields)
        elif isinstance(info, msgspec.inspect.Metadata):
            pending.append(info.type)
        elif isinstance(info, msgspec.inspect.UnionType):
            pending.extend(info.types)
        elif isinstance(info, _SEQUENCE_INFOS):
            pending.append(info.item_type)
        elif isinstance(info, msgspec.inspect.TupleType):
            pending.extend(info.item_types)
        elif isinstance(info, msgspec.inspect.DictType):
            pending.append(info.value_type)
    return strict
