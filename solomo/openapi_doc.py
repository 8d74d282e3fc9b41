"""The committed OpenAPI document: rendered deterministically so the drift test compares text."""

from __future__ import annotations

import json

from litestar import Litestar

from solomo.config import PROJECT_ROOT

OPENAPI_PATH = PROJECT_ROOT / "openapi" / "openapi.json"


def render_openapi(app: Litestar) -> str:
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
