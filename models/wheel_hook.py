"""Hatch build hook: the model files go into the wheel as ``edged/models/``, and only into the wheel.

A ``[tool.hatch.build.targets.wheel.force-include]`` table would also copy them (34 MB) into every editable
install (``pip install -e .``: ./scripts/demo, ./scripts/test), beside the checkout's ``models/`` that an
editable frd reads anyway (edged/vision/modelfiles.py: the package's copy first, then the checkout's). The
files are listed in pyproject.toml (``[tool.hatch.build.targets.wheel.hooks.custom] models``).
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ModelFiles(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "standard":  # "editable": the checkout's models/ are read in place
            return
        for name in self.config.get("models", []):
            build_data["force_include"][f"models/{name}"] = f"edged/models/{name}"
