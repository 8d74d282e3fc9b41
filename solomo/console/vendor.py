"""The web console's front-end libraries, vendored: ``python -m solomo.console.vendor [--check]``.

The console at /console must work with no internet at run time and has no build step, so every script,
style and map data file it loads is a file in this package, under ``static/vendor/<package>/``, next to
that package's licence (and NOTICE). The versions are pinned in ``console/package.json`` and locked,
with their integrity hashes, in ``console/package-lock.json``.

Without arguments this runs ``npm ci --ignore-scripts`` on a copy of those two files in a temporary
directory (node_modules never lands in the repository), replaces ``static/vendor`` with only the files
the browser needs (minified builds; no source maps, no type declarations; the one rewrite, of the MapLibre
adapter's bare ``"terra-draw"`` import to a relative path, is listed with the upstream file's sha256) and writes
``static/vendor/MANIFEST.json``: each package's version, SPDX licence and files with their sha256.

``--check`` uses neither npm nor the network: it verifies that every file MANIFEST.json lists is there
with that sha256, that nothing else is in ``static/vendor``, that every package has a licence file, and
(in a checkout) that the versions are still the ones ``console/package-lock.json`` pins.

terra-draw and terra-draw-maplibre-gl-adapter publish no licence file in their npm tarballs; both come
from the same repository (github.com/JamesLMilner/terra-draw, MIT, as their package.json says), whose
LICENSE is kept in ``console/licenses/terra-draw/LICENSE`` and copied next to them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The repository checkout (``console/`` is not part of the installed package).
REPO_ROOT = Path(__file__).resolve().parents[2]
CONSOLE_DIR = REPO_ROOT / "console"
VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
MANIFEST_NAME = "MANIFEST.json"


@dataclass(frozen=True)
class Package:
    """What the browser needs from one npm package: paths inside the package, copied under their base name."""

    name: str
    files: tuple[str, ...]
    #: Licence and notice files inside the package.
    licences: tuple[str, ...] = ()
    #: A licence file kept in the repository (relative to ``console/``), for a tarball that ships none.
    upstream_licence: str | None = None
    #: Exact text replacements in one copied file (path inside the package, old, new); each must occur once.
    rewrites: tuple[tuple[str, str, str], ...] = ()


PACKAGES: tuple[Package, ...] = (
    Package(
        "echarts",
        # The ES module build: `import * as echarts from "echarts"` through the page's import map.
        files=("dist/echarts.esm.min.js",),
        licences=("LICENSE", "NOTICE", "licenses/LICENSE-d3"),
    ),
    Package(
        "maplibre-gl",
        # UMD (it brings its worker inline): a classic <script>, global `maplibregl`.
        files=("dist/maplibre-gl.js", "dist/maplibre-gl.css"),
        licences=("LICENSE.txt",),
    ),
    Package(
        "terra-draw",
        # The package's "exports" default: an ES module.
        files=("dist/terra-draw.modern.js",),
        upstream_licence="licenses/terra-draw/LICENSE",
    ),
    Package(
        "terra-draw-maplibre-gl-adapter",
        # An ES module that imports the bare specifier "terra-draw" (mapped by the page's import map).
        files=("dist/terra-draw-maplibre-gl-adapter.modern.js",),
        upstream_licence="licenses/terra-draw/LICENSE",
        # Its one import is the bare specifier "terra-draw", which a browser resolves only through an import map,
        # and an inline <script type="importmap"> is refused by the console's CSP (script-src 'self'). Pointing it
        # at the vendored file next door makes it a plain ES module like the others.
        rewrites=(
            (
                "dist/terra-draw-maplibre-gl-adapter.modern.js",
                'from"terra-draw"',
                'from"../terra-draw/terra-draw.modern.js"',
            ),
        ),
    ),
    Package(
        "topojson-client",
        # UMD only (its ESM is unbundled source): a classic <script>, global `topojson`.
        files=("dist/topojson-client.min.js",),
        licences=("LICENSE",),
    ),
    Package(
        "world-atlas",
        files=("countries-110m.json", "land-110m.json"),
        licences=("LICENSE",),
    ),
)


class VendorError(Exception):
    """Vendoring could not be done as pinned; the message says why."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def locked_versions(lock_path: Path) -> dict[str, str]:
    """The version package-lock.json pins for each vendored package."""
    lock: dict[str, Any] = json.loads(lock_path.read_text(encoding="utf-8"))
    entries: dict[str, Any] = lock.get("packages", {})
    versions: dict[str, str] = {}
    for package in PACKAGES:
        entry = entries.get(f"node_modules/{package.name}")
        if entry is None:
            raise VendorError(f"{lock_path} does not lock {package.name}")
        versions[package.name] = str(entry["version"])
    return versions


def npm_ci(console_dir: Path, work_dir: Path) -> Path:
    """Install the locked packages into ``work_dir`` (never into the repository); their node_modules."""
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm is not on PATH; install Node.js (npm) to vendor the console's libraries")
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(console_dir / name, work_dir / name)
    command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    result = subprocess.run(command, cwd=work_dir, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise VendorError(f"npm ci failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return work_dir / "node_modules"


def _copy(source: Path, target_dir: Path, origin: str, rewrites: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    if not source.is_file():
        raise VendorError(f"{origin} is missing")
    target = target_dir / source.name
    if target.exists():
        raise VendorError(f"two files would be copied to {target.name} in {target_dir.name}/")
    entry: dict[str, Any] = {"path": target.name, "source": origin}
    if rewrites:
        text = source.read_bytes().decode("utf-8")  # bytes: no newline translation
        for old, new in rewrites:
            if text.count(old) != 1:
                raise VendorError(f"{origin} has {text.count(old)} occurrences of {old!r}, not 1: check the rewrite")
            text = text.replace(old, new)
        target.write_bytes(text.encode("utf-8"))
        entry["upstream_sha256"] = sha256_of(source)
        entry["rewritten"] = [{"from": old, "to": new} for old, new in rewrites]
    else:
        shutil.copyfile(source, target)
    return entry | {"sha256": sha256_of(target), "size": target.stat().st_size}


def vendor_package(package: Package, node_modules: Path, console_dir: Path, vendor_dir: Path) -> dict[str, Any]:
    """Copy one package's browser files and licences into ``vendor_dir/<name>/``; its manifest entry."""
    root = node_modules / package.name
    meta: dict[str, Any] = json.loads((root / "package.json").read_text(encoding="utf-8"))
    licence = meta.get("license")
    if not isinstance(licence, str) or not licence:
        raise VendorError(f"{package.name}'s package.json names no licence")
    target_dir = vendor_dir / package.name
    target_dir.mkdir(parents=True)
    files = [
        _copy(
            root / rel,
            target_dir,
            f"{package.name}/{rel}",
            [(old, new) for at, old, new in package.rewrites if at == rel],
        )
        for rel in package.files
    ]
    licence_files = [_copy(root / rel, target_dir, f"{package.name}/{rel}") for rel in package.licences]
    if package.upstream_licence is not None:
        licence_files.append(
            _copy(console_dir / package.upstream_licence, target_dir, f"console/{package.upstream_licence}")
        )
    if not licence_files:
        raise VendorError(f"{package.name} has no licence file to vendor")
    listed = files + licence_files
    return {
        "version": str(meta["version"]),
        "license": licence,
        "files": sorted(listed, key=lambda entry: str(entry["path"])),
        "licence_files": sorted(str(entry["path"]) for entry in licence_files),
    }


def vendor(console_dir: Path = CONSOLE_DIR, vendor_dir: Path = VENDOR_DIR) -> dict[str, Any]:
    """Replace ``vendor_dir`` with the pinned packages' browser files; the manifest it wrote."""
    versions = locked_versions(console_dir / "package-lock.json")
    with tempfile.TemporaryDirectory(prefix="solomo-console-vendor-") as work:
        node_modules = npm_ci(console_dir, Path(work))
        if vendor_dir.exists():
            shutil.rmtree(vendor_dir)
        vendor_dir.mkdir(parents=True)
        packages = {
            package.name: vendor_package(package, node_modules, console_dir, vendor_dir)
            for package in sorted(PACKAGES, key=lambda package: package.name)
        }
    for name, entry in packages.items():
        if entry["version"] != versions[name]:
            raise VendorError(f"npm installed {name} {entry['version']}, the lock pins {versions[name]}")
    manifest: dict[str, Any] = {
        "generated_by": "python -m solomo.console.vendor (from console/package-lock.json)",
        "packages": packages,
    }
    write_manifest(manifest, vendor_dir / MANIFEST_NAME)
    return manifest


def write_manifest(manifest: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def load_manifest(vendor_dir: Path = VENDOR_DIR) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((vendor_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    return manifest


def _check_package(vendor_dir: Path, name: str, entry: dict[str, Any], listed: set[Path]) -> list[str]:
    """What is wrong with one package's vendored files; adds the paths it lists to ``listed``."""
    problems: list[str] = []
    files: list[dict[str, Any]] = entry.get("files", [])
    if not files:
        problems.append(f"{name}: no files listed")
    for item in files:
        path = vendor_dir / name / str(item["path"])
        listed.add(path)
        if not path.is_file():
            problems.append(f"{name}: {item['path']} is missing")
        elif sha256_of(path) != item["sha256"]:
            problems.append(f"{name}: {item['path']} does not have the sha256 MANIFEST.json lists")
    licence_files: list[str] = entry.get("licence_files", [])
    if not licence_files:
        problems.append(f"{name}: no licence file")
    names = {str(item["path"]) for item in files}
    problems.extend(
        f"{name}: licence file {licence} is not among its files" for licence in licence_files if licence not in names
    )
    if not entry.get("license"):
        problems.append(f"{name}: no SPDX licence")
    return problems


def check(vendor_dir: Path = VENDOR_DIR, console_dir: Path = CONSOLE_DIR) -> list[str]:
    """What is wrong with the vendored files (nothing: an empty list). Uses neither npm nor the network."""
    manifest_path = vendor_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        return [f"{manifest_path} is missing: run `python -m solomo.console.vendor`"]
    try:
        packages: dict[str, Any] = load_manifest(vendor_dir)["packages"]
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{manifest_path} is not a vendor manifest: {exc!r}"]
    problems: list[str] = []
    expected = {package.name for package in PACKAGES}
    if set(packages) != expected:
        problems.append(f"MANIFEST.json lists {sorted(packages)}, the console needs {sorted(expected)}")
    listed: set[Path] = {manifest_path}
    for name, entry in sorted(packages.items()):
        problems.extend(_check_package(vendor_dir, name, entry, listed))
    unlisted = sorted(path for path in vendor_dir.rglob("*") if path.is_file() and path not in listed)
    problems.extend(f"{path.relative_to(vendor_dir)} is not listed in MANIFEST.json" for path in unlisted)
    lock_path = console_dir / "package-lock.json"
    if lock_path.is_file():  # a checkout: the vendored versions must still be the locked ones
        try:
            versions = locked_versions(lock_path)
        except VendorError as exc:
            problems.append(str(exc))
        else:
            problems.extend(
                f"{name}: vendored {packages[name].get('version')}, console/package-lock.json pins {version}"
                for name, version in sorted(versions.items())
                if name in packages and packages[name].get("version") != version
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m solomo.console.vendor", description="Vendor the web console's front-end libraries."
    )
    parser.add_argument("--check", action="store_true", help="verify the vendored files against MANIFEST.json only")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(f"vendor check: {problem}", file=sys.stderr)
        if problems:
            print("vendor check failed: run `python -m solomo.console.vendor` to re-vendor", file=sys.stderr)
            return 1
        print(f"vendor check: {VENDOR_DIR} matches MANIFEST.json")
        return 0
    try:
        manifest = vendor()
    except VendorError as exc:
        print(f"vendor: {exc}", file=sys.stderr)
        return 1
    total = 0
    for name, entry in manifest["packages"].items():
        size = sum(int(item["size"]) for item in entry["files"])
        total += size
        print(f"{name} {entry['version']} ({entry['license']}): {len(entry['files'])} files, {size:,} bytes")
    print(f"total {total:,} bytes in {VENDOR_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
