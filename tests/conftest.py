"""Shared fixtures (the face test data, the real model, the frd CLI as a subprocess, a real broker) and the tiers.

Every test is marked with its tier, the folder it is in (:data:`TIERS`): ``pytest -m unit`` (or ``pytest
tests/unit``) runs the fast tier alone; ``-m "not system"`` everything but the booted hosts and Home Assistant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The tiers, each a folder of tests/ and a marker (registered in pyproject.toml).
TIERS = ("unit", "integration", "system")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.resolve().relative_to(ROOT / "tests").parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.path}: a test belongs in one of tests/{{{','.join(TIERS)}}}/")
        item.add_marker(getattr(pytest.mark, tier))


def _data_dir() -> Path:
    return Path(os.environ.get("FRD_TEST_DATA", ROOT.parent / "shared" / "data" / "faces")).resolve()


@pytest.fixture(scope="session")
def data() -> Path:
    """The shared face data; skipped when absent unless FRD_REQUIRE_DATA=1 (CI), where it fails."""
    d = _data_dir()
    if not (d / "README.md").is_file():
        msg = f"face test data not found at {d} (set FRD_TEST_DATA)"
        if os.environ.get("FRD_REQUIRE_DATA") == "1":
            pytest.fail(msg + " and FRD_REQUIRE_DATA=1 requires it")
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def embedder():
    from edged.vision.embed import TFLiteEmbedder

    return TFLiteEmbedder()


@pytest.fixture(scope="session")
def still_pipeline():
    from edged.daemon.app import build_pipeline

    return build_pipeline(still=True)


@pytest.fixture(scope="session")
def video_pipeline():
    from edged.daemon.app import build_pipeline

    return build_pipeline(still=False)


class FrdResult:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@pytest.fixture
def frd():
    """Run the real ``frd`` command line in a subprocess."""

    def run(*args: str | Path, timeout: float = 300) -> FrdResult:
        proc = subprocess.run(
            [sys.executable, "-m", "edged", *map(str, args)],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        return FrdResult(proc)

    return run


@pytest.fixture
def broker():
    """A real mosquitto on a free loopback port, killable and restartable by the test."""
    from tests.broker import Mosquitto, mosquitto_available

    if not mosquitto_available():
        msg = "mosquitto is not installed (apt-get install mosquitto mosquitto-clients)"
        if os.environ.get("CI") or os.environ.get("FRD_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    with Mosquitto() as b:
        yield b
