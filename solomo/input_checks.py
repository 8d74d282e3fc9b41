"""Checks on every request's input before Litestar converts it.

Strict JSON bodies: decode every body against its handler's declared type before Litestar does.

Litestar converts bodies with ``strict=False``, which turns ``"12.5"`` into a float and lets a string
stand where a number is required. We want those refused, with the field named, so each body is first
decoded strictly with msgspec (microseconds; Litestar then converts the same, now known-good, data).
A body with ``NaN``/``Infinity`` is not JSON, but it is common enough from JavaScript clients that
we point at the field rather than answer a bare 400.

NUL characters: PostgreSQL text cannot hold them, so a body, query or path value with one is refused
here (naming the field) instead of failing in the database.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler

_decoders: dict[int, msgspec.json.Decoder[Any] | None] = {}
_AT = re.compile(r" - at `\$(.*)`$")


def _decoder_for(handler: HTTPRouteHandler) -> msgspec.json.Decoder[Any] | None:
    key = id(handler.fn)
    if key not in _decoders:
        data = handler.parsed_fn_signature.parameters.get("data")
        _decoders[key] = msgspec.json.Decoder(data.annotation, strict=True) if data is not None else None
    return _decoders[key]


def _field_of(message: str) -> tuple[str, str]:
    found = _AT.search(message)
    if not found:
        return "", message
    return found.group(1).lstrip("."), message[: found.start()]


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
    key = (f"data.{field}" if field else "data") if source == "body" else field
    return ValidationException(detail=message, extra=[{"message": message, "key": key, "source": source}])


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
    decoder = _decoder_for(handler)
    if decoder is None:
        return
    body = await request.body()
    if not body:
        return
    try:
        decoder.decode(body)
        if b"\\u0000" in body:
            field_path = _first_nul(msgspec.json.decode(body))
            if field_path is not None:
                raise _refuse(field_path, _NUL_MESSAGE)
    except msgspec.ValidationError as exc:
        field, message = _field_of(str(exc))
        raise _refuse(field, message) from exc
    except msgspec.DecodeError:
        try:
            lenient = json.loads(body)  # the standard library reads NaN and Infinity
        except ValueError:
            return  # not JSON at all: Litestar answers 400
        field_path = _first_non_finite(lenient)
        if field_path is not None:
            raise _refuse(field_path, "NaN and Infinity are not valid JSON numbers") from None
