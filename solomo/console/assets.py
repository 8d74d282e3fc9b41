"""The console's files, read once at start-up and served from memory: compressed, with cache headers.

Every asset URL carries the version of the whole set (a hash of every file), ``/console/assets/<version>/…``, so an
asset can be cached for a year (``immutable``) and a new release is fetched at once; the page itself
(``/console``) is revalidated on every load (``no-cache`` with an ETag) and names the current version. Text files
are gzipped once here (level 9), not per request.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Final

STATIC: Final = Path(__file__).parent / "static"
#: Below this a compressed copy is not worth a second header.
_MIN_COMPRESS: Final = 512
_TEXT_TYPES: Final = ("text/", "application/javascript", "application/json", "image/svg+xml")
_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def _media_type(path: Path) -> str:
    return _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _asset(body: bytes, media_type: str) -> Asset:
    compressible = len(body) >= _MIN_COMPRESS and media_type.startswith(_TEXT_TYPES)
    gzipped = gzip.compress(body, compresslevel=9, mtime=0) if compressible else None
    return Asset(body, gzipped, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


class ConsoleAssets:
    """Every file under ``root`` (the page template excepted) by its path relative to ``root``."""

    def __init__(self, root: Path = STATIC) -> None:
        self.root = root
        self.files: dict[str, Asset] = {}
        digest = hashlib.sha256()
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root).as_posix()
            body = path.read_bytes()
            digest.update(relative.encode() + b"\0" + body)
            if relative != "index.html":
                self.files[relative] = _asset(body, _media_type(path))
        self.version = digest.hexdigest()[:16]
        self.template = (root / "index.html").read_text() if (root / "index.html").exists() else ""

    def get(self, version: str, relative: str) -> Asset | None:
        """The asset, only under the current version (an old version's URL is a 404, never another file)."""
        if version != self.version:
            return None
        return self.files.get(relative)

    @cached_property
    def prefix(self) -> str:
        return f"/console/assets/{self.version}/"

    def page(self, settings_json: str) -> Asset:
        """The console's one HTML page, naming this version's assets and carrying the deployment's settings."""
        html = self.template.replace("{{ASSETS}}", self.prefix).replace("{{SETTINGS}}", settings_json)
        return _asset(html.encode(), "text/html; charset=utf-8")


def accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
