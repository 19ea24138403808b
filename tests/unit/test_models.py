"""The shared value types and the event rules stay light: no dlib, OpenCV or TensorFlow Lite behind them."""

import ast
import json
import subprocess
import sys
from pathlib import Path

from edged.core.models import Box, Recognition, iou

ROOT = Path(__file__).resolve().parents[2]

HEAVY = ("dlib", "cv2", "tflite_runtime", "ai_edge_litert", "tensorflow")


def test_the_light_modules_import_nothing_heavy():
    code = (
        "import json, sys\n"
        "import edged.core.models, edged.video.events, edged.core.topics\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(r.stdout) == []
    # the check itself can fail: importing the detector does load them
    r = subprocess.run([sys.executable, "-c", code.replace("edged.core.topics", "edged.vision.detect.hog")],
                       capture_output=True, text=True, timeout=60, check=True)
    assert set(json.loads(r.stdout)) >= {"dlib", "cv2"}


def test_the_value_types_are_imported_from_their_one_home():
    """Each value type has one import path: no module hands another's type on (the re-exports that kept old
    paths alive are gone), so every import of one names edged.core.models."""
    types = {"Box", "Face", "Recognition", "Event", "Message"}
    wrong = []
    for path in sorted([*ROOT.glob("edged/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("benchmarks/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and {a.name for a in node.names} & types:
                module = "." * node.level + (node.module or "")
                if not (module.endswith("core.models") or (module == ".models" and path.parent.name == "core")):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {module}")
    assert wrong == []


def test_box_geometry():
    a, b = Box(0, 0, 10, 10), Box(5, 0, 10, 10)
    assert a.area == 100 and a.as_list() == [0, 0, 10, 10]
    assert iou(a, b) == 50 / 150 and iou(a, a) == 1.0
    assert iou(a, Box(20, 20, 5, 5)) == 0.0 and iou(Box(0, 0, 0, 0), Box(0, 0, 0, 0)) == 0.0


def test_a_recognition_carries_its_track_id_and_defaults_to_none():
    r = Recognition(Box(0, 0, 4, 4), "alice", 0.9, "alice", 4)
    assert r.track is None and not r.pending
    assert Recognition(Box(0, 0, 4, 4), None, 0.1, "alice", 4, pending=True, track=3).track == 3
