"""The committed OpenAPI document: rendered deterministically so the drift test compares text."""

from __future__ import annotations

import json

import msgspec
from litestar import Litestar

from solomo.config import PROJECT_ROOT

OPENAPI_PATH = PROJECT_ROOT / "openapi" / "openapi.json"


def render_openapi(app: Litestar) -> str:
    # Through msgspec first, as Litestar serves it: examples may hold datetimes, UUIDs or Structs.
    served = msgspec.json.decode(msgspec.json.encode(app.openapi_schema.to_schema()))
    return json.dumps(served, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
