"""The API docs pages work offline: every script, style and icon they load is served by the app itself."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

from litestar import Litestar
from litestar.testing import AsyncTestClient

from solomo.docs_ui import ASSETS_PATH


class _Links(HTMLParser):
    """Every URL a page makes the browser load: src and href attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


async def test_docs_pages_load_only_the_apps_own_pinned_assets(client: AsyncTestClient[Litestar]) -> None:
    for page in ("/schema", "/schema/swagger"):
        answer = await client.get(page)
        assert answer.status_code == 200, page
        assert answer.headers["content-type"].startswith("text/html")
        links = _Links()
        links.feed(answer.text)
        assert len(links.urls) >= 4, links.urls  # the stylesheet, two scripts and the icon
        for url in links.urls:
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc) == ("", ""), f"{page} loads {url} from another host"
            assert url.startswith(f"{ASSETS_PATH}/"), url
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 500, url
        for cdn in ("cdn.", "jsdelivr", "unpkg", "@latest", "fonts.googleapis"):
            assert cdn not in answer.text, (page, cdn)
    script = await client.get(f"{ASSETS_PATH}/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith(("application/javascript", "text/javascript"))
    assert "max-age=86400" in script.headers["cache-control"]


async def test_only_the_pages_assets_are_served(client: AsyncTestClient[Litestar]) -> None:
    for name in ("index.html", "swagger-initializer.js", "swagger-ui.js.map", "..%2F__init__.py"):
        answer = await client.get(f"{ASSETS_PATH}/{name}")
        assert answer.status_code == 404, name
        assert answer.headers["content-type"] == "application/problem+json"
