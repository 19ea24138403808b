"""A 720p or 1080p camera is detected at a working size and named as the 640×360 clip is.

The clip is scaled up with OpenCV in the test (no video file is written): the detector runs on the
frame reduced to ``recognition.detect_max_side`` (here 640 px), or on the part of it that moved at
full detail (never on more pixels than the reduced frame); the boxes come back in full-frame pixels
and the landmarks and chips are cut from the full frame.
"""

from __future__ import annotations

import pytest

from edged.config import ConfigError, RecognitionConfig, parse_config


def test_the_config_takes_a_working_size_per_camera_and_refuses_a_tiny_one():
    cfg = parse_config("cameras:\n  - {name: door, source: rtsp://192.0.2.1/s, detect_max_side: 960}\n"
                       "recognition:\n  detect_max_side: null\n", "frd.yaml")
    assert cfg.cameras[0].detect_max_side == 960 and cfg.recognition.detect_max_side is None
    assert RecognitionConfig().detect_max_side is None  # full frames until a small-face detector
    with pytest.raises(ConfigError, match="detect_max_side"):
        parse_config("recognition:\n  detect_max_side: 10\n", "frd.yaml")


def test_the_config_takes_the_video_detection_floor():
    assert RecognitionConfig().follow_min_face_px == 12
    cfg = parse_config("recognition:\n  follow_min_face_px: 20\n  quality_gate:\n    max_yaw_yunet: 0.6\n",
                       "frd.yaml")
    assert cfg.recognition.follow_min_face_px == 20 and cfg.recognition.quality_gate.max_yaw_yunet == 0.6
    for bad in ("follow_min_face_px: 0", "quality_gate: {max_yaw_yunet: 0}"):
        with pytest.raises(ConfigError, match=r"follow_min_face_px|max_yaw_yunet"):
            parse_config(f"recognition:\n  {bad}\n", "frd.yaml")
