"""frd's stderr is frd's voice: TFLite's C++ "INFO: Created TensorFlow Lite XNNPACK delegate" line never
reaches it, whichever command loads the model; with ``-v`` it shows as frd's own debug line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TFLITE = "TensorFlow Lite"


def _frd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edged", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "frd.yaml"
    path.write_text(f"device_id: quiet\ngallery:\n  path: {tmp_path / 'gallery'}\n")
    return path


def test_no_command_prints_tflites_delegate_line(tmp_path: Path, data: Path, config: Path) -> None:
    photos = sorted((data / "people" / "alex_lacamoire").glob("*.jpg"))[:2]
    runs = {
        "embed": _frd("embed", str(photos[0]), cwd=tmp_path),
        "enroll": _frd("enroll", "-c", str(config), "alex", *map(str, photos), cwd=tmp_path),
        "recognize photo": _frd("recognize", "-c", str(config), str(photos[0]), cwd=tmp_path),
        "recognize video": _frd("recognize", "-c", str(config), str(data / "video/short_hamilton_clip.mp4"),
                                cwd=tmp_path),
    }
    for what, r in runs.items():
        assert r.returncode == 0, (what, r.stderr[-2000:])
        assert TFLITE not in r.stderr and "INFO:" not in r.stderr, (what, r.stderr[-2000:])
    assert "alex" in runs["recognize photo"].stdout  # the commands did their work, not only kept quiet


def test_with_v_the_delegate_line_is_frds_debug_line(tmp_path: Path, data: Path) -> None:
    """Caught at the file descriptor and logged, not lost: -v shows where it went."""
    photo = sorted((data / "people" / "alex_lacamoire").glob("*.jpg"))[0]
    r = _frd("-v", "embed", str(photo), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if TFLITE in line]
    assert lines and all(line.startswith("frd: DEBUG: TFLite: INFO: ") for line in lines), r.stderr[-2000:]
