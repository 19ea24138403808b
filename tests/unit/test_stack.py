"""The stack frd runs on is read from the installed metadata, and a difference from the recorded one is named."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

from edged.core.stack import EMBEDDING_STACK, differences, embedding_stack, full_stack

ROOT = Path(__file__).resolve().parents[2]


def test_the_embedding_stack_is_the_installed_versions_of_what_decides_an_embedding() -> None:
    assert embedding_stack() == {dist: version(dist) for dist in EMBEDDING_STACK}


def test_a_difference_names_the_running_and_the_recorded_version() -> None:
    recorded = {"opencv-python-headless": "5.0.0.93", "numpy": "2.4.6", "dlib-bin": "20.0.1.post1"}
    running = {"opencv-python-headless": "5.1.0.95", "numpy": "2.4.6"}
    assert differences(recorded, running) == ["dlib-bin not installed (recorded 20.0.1.post1)",
                                              "opencv-python-headless 5.1.0.95 (recorded 5.0.0.93)"]
    assert differences(recorded, dict(recorded)) == []


def test_the_full_stack_lists_every_runtime_dependency_with_its_version() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    about = full_stack()
    assert set(about["dependencies"]) == {Requirement(r).name for r in declared}
    assert all(about["dependencies"][d] == version(d) for d in about["dependencies"])
    assert about["frd"] == version("frd") and about["python"].count(".") == 2
