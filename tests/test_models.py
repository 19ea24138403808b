"""The shared value types and the event rules stay light: no dlib, OpenCV or TensorFlow Lite behind them."""

import json
import subprocess
import sys

from edged.core.models import Box, Event, Face, Message, Recognition, iou
from edged.core.topics import Message as TopicsMessage
from edged.video.events import Event as EventsEvent
from edged.vision.detect import Box as DetectBox
from edged.vision.pipeline import Face as PipelineFace
from edged.vision.pipeline import Recognition as PipelineRecognition

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
    r = subprocess.run([sys.executable, "-c", code.replace("edged.core.topics", "edged.vision.detect")],
                       capture_output=True, text=True, timeout=60, check=True)
    assert set(json.loads(r.stdout)) >= {"dlib", "cv2"}


def test_the_old_import_paths_name_the_same_types():
    assert DetectBox is Box and PipelineFace is Face and PipelineRecognition is Recognition
    assert EventsEvent is Event and TopicsMessage is Message


def test_box_geometry():
    a, b = Box(0, 0, 10, 10), Box(5, 0, 10, 10)
    assert a.area == 100 and a.as_list() == [0, 0, 10, 10]
    assert iou(a, b) == 50 / 150 and iou(a, a) == 1.0
    assert iou(a, Box(20, 20, 5, 5)) == 0.0 and iou(Box(0, 0, 0, 0), Box(0, 0, 0, 0)) == 0.0


def test_a_recognition_carries_its_track_id_and_defaults_to_none():
    r = Recognition(Box(0, 0, 4, 4), "alice", 0.9, "alice", 4)
    assert r.track is None and not r.pending
    assert Recognition(Box(0, 0, 4, 4), None, 0.1, "alice", 4, pending=True, track=3).track == 3
