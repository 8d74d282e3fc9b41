"""Checks on every request's input before Litestar converts it.

Strict JSON bodies: decode every body against its handler's declared type before Litestar does.

Litestar converts bodies with ``strict=False``, which turns ``"12.5"`` into a float and lets a string
stand where a number is required. We want those refused, with the field named, so each body is decoded
strictly with msgspec here, and Litestar is handed the result: the body is decoded once.
A body with ``NaN``/``Infinity`` is not JSON, but it is common enough from JavaScript clients that
we point at the field rather than answer a bare 400.

Every bad field is named, not only the first one msgspec stops at (:mod:`solomo.field_errors`).

NUL characters: PostgreSQL text cannot hold them, so a body, query or path value with one is refused
here (naming the field) instead of failing in the database.

Content type: a body is only read as JSON when it says it is JSON (``application/json`` or a ``+json``
type such as ``application/geo+json``); anything else, or no Content-Type at all, is a 415.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.utils.scope.state import ScopeState

from solomo.errors import ApiError
from solomo.field_errors import bad_fields

_decoders: dict[int, tuple[msgspec.json.Decoder[Any], Any] | None] = {}


def _decoder_for(handler: HTTPRouteHandler) -> tuple[msgspec.json.Decoder[Any], Any] | None:
    """The strict decoder of the handler's JSON body and the body's type; ``None`` for a route without one."""
    key = id(handler.fn)
    if key not in _decoders:
        data = handler.parsed_fn_signature.parameters.get("data")
        media_type = getattr(data.kwarg_definition, "media_type", RequestEncodingType.JSON) if data else None
        if data is None or media_type != RequestEncodingType.JSON:
            _decoders[key] = None  # no body, or one documented as another type (form, multipart)
        else:
            _decoders[key] = (msgspec.json.Decoder(data.annotation, strict=True), data.annotation)
    return _decoders[key]


def is_json(content_type: str | None) -> bool:
    """``application/json`` or a structured ``+json`` type, parameters (charset) aside."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _unsupported(content_type: str | None) -> ApiError:
    sent = f"`{content_type}`" if content_type else "no Content-Type"
    return ApiError(
        HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        f"This route reads a JSON body; send it as application/json (got {sent})",
    )


def _first_non_finite(value: Any, path: str = "") -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_non_finite(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_non_finite(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _first_nul(value: Any, path: str = "") -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here
            found = _first_nul(item, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_nul(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


_NUL_MESSAGE = "must not contain NUL (\\u0000) characters"


def _refuse(field: str, message: str, source: str = "body") -> ValidationException:
    return _refuse_all([(field, message)], source)


def _refuse_all(fields: list[tuple[str, str]], source: str = "body") -> ValidationException:
    def key(field: str) -> str:
        return (f"data.{field}" if field else "data") if source == "body" else field

    extra = [{"message": message, "key": key(field), "source": source} for field, message in fields]
    return ValidationException(detail="; ".join(message for _, message in fields), extra=extra)


def _check_parameters(request: Request[Any, Any, Any]) -> None:
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in str(value):
            raise _refuse(name, _NUL_MESSAGE, "query")
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise _refuse(name, _NUL_MESSAGE, "path")


async def check_input(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook: a 422 naming the field for input that only lax conversion (or nothing) would accept."""
    _check_parameters(request)
    handler = request.scope.get("route_handler")
    if not isinstance(handler, HTTPRouteHandler) or request.method in ("GET", "HEAD", "DELETE"):
        return
    found = _decoder_for(handler)
    if found is None:
        return
    body = await request.body()
    if not body:
        return  # nothing to read: an optional body may be left out
    content_type = request.headers.get("content-type")
    if not is_json(content_type):
        raise _unsupported(content_type)
    decoder, annotation = found
    try:
        decoded = decoder.decode(body)
        if b"\\u0000" in body:
            field_path = _first_nul(msgspec.json.decode(body))
            if field_path is not None:
                raise _refuse(field_path, _NUL_MESSAGE)
        # Litestar's body extractor takes this as the decoded body, so the body is decoded once: its conversion of
        # an instance of the declared type to that type gives the instance back.
        ScopeState.from_scope(request.scope).json = decoded
    except msgspec.ValidationError as exc:
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError:
            # Not JSON after all: a number out of range (1e400), or a wrong first value then garbage (`1 2`).
            _refuse_non_finite(body)
            return
        raise _refuse_all(bad_fields(decoded, annotation)) from exc
    except msgspec.DecodeError:
        _refuse_non_finite(body)


def _refuse_non_finite(body: bytes) -> None:
    """A 422 naming the field for NaN, Infinity or an overflowing number; anything else not JSON is Litestar's 400."""
    try:
        lenient = json.loads(body)  # the standard library reads NaN and Infinity
    except ValueError:
        return
    field_path = _first_non_finite(lenient)
    if field_path is not None:
        raise _refuse(field_path, "NaN and Infinity are not valid JSON numbers") from None
