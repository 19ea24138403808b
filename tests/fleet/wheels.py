"""Release wheels for the fleet test, built from temporary copies of the source tree.

A "release" differs from the checkout only in its version (``edged/__init__.py``) and,
for the deliberately broken one, in the model manifest's sha256 -- frd refuses to start
with a model that does not match its manifest, which is exactly the failure a rollout
must catch.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: What the wheel is built from (models/wheel_hook.py, named in pyproject.toml, adds the model files).
SOURCE_PARTS = ("pyproject.toml", "README.md", "edged", "models")


def source_version(root: Path) -> str:
    text = (root / "edged/__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M)
    if not match:
        raise RuntimeError(f"no __version__ in {root / 'edged/__init__.py'}")
    return match.group(1)


def build_wheel(root: Path, out_dir: Path, *, version: str | None = None, break_model: bool = False) -> Path:
    """Build ``frd-<version>-py3-none-any.whl`` into ``out_dir`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="frd-release-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for part in SOURCE_PARTS:
            path = root / part
            if path.is_dir():
                shutil.copytree(path, src / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "reference"))
            elif path.exists():
                shutil.copy2(path, src / part)
        if version is not None:
            init = src / "edged/__init__.py"
            text = init.read_text(encoding="utf-8")
            init.write_text(re.sub(r'^__version__\s*=\s*"[^"]+"', f'__version__ = "{version}"', text, flags=re.M),
                            encoding="utf-8")
        if break_model:
            manifest = src / "models/facenet_int8.json"
            data = json.loads(manifest.read_text(encoding="utf-8"))
            data["sha256"] = "0" * 64
            manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        want = source_version(src)
        wheel_dir = Path(tmp) / "dist"
        # With hatchling at hand, skip pip's isolated build env (one download less per wheel).
        isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(wheel_dir), str(src)],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}")
        (wheel,) = wheel_dir.glob("frd-*.whl")
        if f"-{want}-" not in wheel.name:
            raise RuntimeError(f"{wheel.name}: expected version {want}")
        dest = out_dir / wheel.name
        shutil.move(str(wheel), dest)
        return dest
