"""The API docs pages, /schema and /schema/swagger: Swagger UI from the app's own pinned copy, never a CDN.

Litestar's render plugins load their JavaScript, CSS and favicon from CDNs (Scalar at ``@latest``), so the
docs page was blank without internet and changed under us. The PyPI package ``swagger-ui-bundle-v2``
(pinned in pyproject.toml and uv.lock) ships Swagger UI's dist files; the app serves them itself under
``/schema/assets``. Scalar has no such package, and a vendored copy of its bundle would be megabytes in the
repository, so /schema shows Swagger UI too.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath
from litestar.response import File

from solomo.errors import not_found

#: Under the docs' own path, which the auth middleware leaves open, like the pages themselves.
ASSETS_PATH = "/schema/assets"
#: The files the pages load, with their media types (a script sent as octet-stream is refused under nosniff);
#: the rest of the bundle (source maps, its own index page) is not served.
ASSET_FILES = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}


@cache
def swagger_ui_dir() -> Path:
    """The package's one ``vendor/swagger-ui-<version>`` folder (the version is pinned by uv.lock)."""
    found = sorted(Path(str(files("swagger_ui_bundle") / "vendor")).glob("swagger-ui-*"))
    if len(found) != 1 or not all((found[0] / name).is_file() for name in ASSET_FILES):
        msg = f"swagger-ui-bundle-v2 is not installed as uv.lock pins it (found {found}): run `uv sync --frozen`"
        raise RuntimeError(msg)
    return found[0]


def docs_page() -> SwaggerRenderPlugin:
    """Swagger UI at /schema (the page the README and `solomo run` point to) and at /schema/swagger."""
    swagger_ui_dir()  # a broken install fails at start-up, not as a blank page
    return SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


@get(
    f"{ASSETS_PATH}/{{name:str}}",
    include_in_schema=False,
    cache_control=CacheControlHeader(max_age=86_400, public=True),
    sync_to_thread=False,
)
def docs_asset(name: FromPath[str]) -> File:
    """One of the few files of the pinned Swagger UI the pages load; any other name is a 404."""
    if name not in ASSET_FILES:
        raise not_found("docs asset")
    return File(swagger_ui_dir() / name, media_type=ASSET_FILES[name], content_disposition_type="inline")
