"""Strict JSON bodies: decode every body against its handler's declared type before Litestar does.

Litestar converts bodies with ``strict=False``, which turns ``"12.5"`` into a float and lets a string
stand where a number is required. We want those refused, with the field named, so each body is first
decoded strictly with msgspec (microseconds; Litestar then converts the same, now known-good, data).
A body with ``NaN``/``Infinity`` is not JSON, but it is common enough from JavaScript clients that
we point at the field rather than answer a bare 400.
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


def _refuse(field: str, message: str) -> ValidationException:
    key = f"data.{field}" if field else "data"
    return ValidationException(detail=message, extra=[{"message": message, "key": key, "source": "body"}])


async def check_body_strictly(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook: raise a 422 naming the field for a body that only lax conversion would accept."""
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
