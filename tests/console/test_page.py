"""The console's page and assets: served by the app itself, compressed, cached by version, under a strict CSP."""

from __future__ import annotations

import gzip
import re

from litestar import Litestar
from litestar.testing import AsyncTestClient


def _asset_paths(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/console/assets/[^"]+)"', html)


async def test_the_page_names_versioned_assets_and_is_revalidated(client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/console")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp  # no inline script, no eval
    assert "frame-ancestors 'none'" in csp
    assert "{{" not in page.text
    assets = _asset_paths(page.text)
    assert assets, page.text
    again = await client.get("/console", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    deep = await client.get("/console/stores/123")  # the console's own router takes the rest of the path
    assert deep.status_code == 200
    assert deep.text == page.text


async def test_assets_are_gzipped_and_cached_for_a_year(client: AsyncTestClient[Litestar]) -> None:
    page = await client.get("/console")
    script = next(path for path in _asset_paths(page.text) if path.endswith(".js"))
    plain = await client.get(script, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "content-encoding" not in plain.headers
    css = next(path for path in _asset_paths(page.text) if path.endswith(".css") and "vendor" in path)
    raw = await client.get(css, headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["vary"] == "Accept-Encoding"
    assert len(raw.content) > 0
    identity = await client.get(css, headers={"Accept-Encoding": "identity"})
    assert gzip.decompress(await _raw_body(client, css)) == identity.content


async def _raw_body(client: AsyncTestClient[Litestar], path: str) -> bytes:
    """The compressed bytes as sent (httpx would otherwise decompress them)."""
    async with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as answer:
        return b"".join([chunk async for chunk in answer.aiter_raw()])


async def test_an_asset_of_another_version_or_outside_the_folder_is_not_found(
    client: AsyncTestClient[Litestar],
) -> None:
    page = await client.get("/console")
    script = _asset_paths(page.text)[0]
    version = script.split("/")[3]
    stale = script.replace(version, "0" * len(version))
    assert (await client.get(stale)).status_code == 404
    # Assets are a fixed map of the files read at start-up, so no path can reach outside the folder.
    assert (await client.get(f"/console/assets/{version}/..%2F..%2Fconfig.py")).status_code == 404
    assert (await client.get(f"/console/assets/{version}/app%2F..%2F..%2F__init__.py")).status_code == 404
    assert (await client.get(f"/console/assets/{version}/index.html")).status_code == 404
