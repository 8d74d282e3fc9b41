"""The console's vendored front-end libraries are all there, as MANIFEST.json lists them, with their licences.

No npm, no network, no database, no browser: ``python -m solomo.console.vendor`` re-vendors; these only check.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from solomo.console.vendor import MANIFEST_NAME, PACKAGES, VENDOR_DIR, check, load_manifest


def test_the_vendored_files_match_the_manifest() -> None:
    assert check() == []


@pytest.mark.parametrize("package", [package.name for package in PACKAGES])
def test_each_package_has_files_and_a_licence(package: str) -> None:
    entry = load_manifest()["packages"][package]
    paths = [item["path"] for item in entry["files"]]
    assert entry["version"]
    assert entry["license"]
    assert [path for path in paths if path not in entry["licence_files"]], "no file for the browser"
    assert entry["licence_files"]
    for licence in entry["licence_files"]:
        assert licence in paths
        assert (VENDOR_DIR / package / licence).read_text(encoding="utf-8").strip()


def test_the_check_reports_a_changed_missing_or_stray_file(tmp_path: Path) -> None:
    vendor_dir = tmp_path / "vendor"
    shutil.copytree(VENDOR_DIR, vendor_dir)
    manifest = json.loads((vendor_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    (vendor_dir / "world-atlas" / "land-110m.json").write_text("{}")
    (vendor_dir / "topojson-client" / "LICENSE").unlink()
    (vendor_dir / "echarts" / "echarts.js").write_text("")
    problems = check(vendor_dir)
    assert "world-atlas: land-110m.json does not have the sha256 MANIFEST.json lists" in problems
    assert "topojson-client: LICENSE is missing" in problems
    assert "echarts/echarts.js is not listed in MANIFEST.json" in problems
    assert len(problems) == 3

    manifest["packages"]["world-atlas"]["licence_files"] = []
    (vendor_dir / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert "world-atlas: no licence file" in check(vendor_dir)


def test_the_maplibre_adapter_imports_terra_draw_by_a_relative_path() -> None:
    """No import map needed (the console's CSP refuses an inline one): the adapter imports the vendored file."""
    adapter = VENDOR_DIR / "terra-draw-maplibre-gl-adapter" / "terra-draw-maplibre-gl-adapter.modern.js"
    text = adapter.read_text(encoding="utf-8")
    assert 'from"terra-draw"' not in text
    assert 'from"../terra-draw/terra-draw.modern.js"' in text
    assert (adapter.parent / "../terra-draw/terra-draw.modern.js").is_file()
    entry = next(
        item
        for item in load_manifest()["packages"]["terra-draw-maplibre-gl-adapter"]["files"]
        if item["path"] == adapter.name
    )
    assert entry["rewritten"]
    assert entry["upstream_sha256"] != entry["sha256"]
