"""The software stack frd runs on, read from the installed distributions' metadata (nothing is imported).

The calibration and the golden embeddings were measured on one stack (``uv.lock``): the versions that decide
an embedding (decoding, detection, landmarks, the chip's resize, TFLite's int8 kernels) are recorded with the
calibration, and frd says once at start when the running ones differ.
"""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, requires, version

#: The distributions whose versions move an embedding. LiteRT's predecessor stands in for it where only it is
#: installed (the embedder falls back to it the same way).
EMBEDDING_STACK = ("opencv-python-headless", "ai-edge-litert", "dlib-bin", "numpy")
_FALLBACKS = {"ai-edge-litert": "tflite-runtime"}


def installed(dist: str) -> str | None:
    """The installed version of ``dist``, or None."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def embedding_stack() -> dict[str, str]:
    """{distribution: version} of what decides an embedding (a missing one is "not installed")."""
    out = {}
    for dist in EMBEDDING_STACK:
        found = installed(dist)
        if found is None and (fallback := _FALLBACKS.get(dist)) and (other := installed(fallback)):
            out[fallback] = other
        else:
            out[dist] = found or "not installed"
    return out


def differences(recorded: dict[str, str], running: dict[str, str]) -> list[str]:
    """Each recorded version the running stack does not have, as "name running (recorded X)"."""
    out = []
    for dist, want in sorted(recorded.items()):
        have = running.get(dist, "not installed")
        if have != want:
            out.append(f"{dist} {have} (recorded {want})")
    return out


def full_stack() -> dict[str, object]:
    """Everything ``frd version`` prints: frd, Python, the machine, every runtime dependency's version."""
    deps = {}
    for req in requires("frd") or []:
        if "extra ==" in req:
            continue
        name = req.split(";")[0].strip()
        for sep in "<>=!~[ ":
            name = name.split(sep)[0]
        deps[name] = installed(name) or "not installed"
    return {
        "frd": installed("frd") or "not installed",
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "machine": platform.machine(),
        "libc": " ".join(platform.libc_ver()).strip(),
        "dependencies": deps,
    }
