"""YuNet as the face detector (``recognition.detector: yunet``): the real model, checked and measured.

YuNet's boxes are mapped to the shape HOG gives (dlib's 5-point predictor was trained on HOG
boxes); they come back in full-frame pixels whatever the working size.
"""

from __future__ import annotations

import textwrap

import pytest

from edged.config import ConfigError, RecognitionConfig, parse_config
from edged.vision.detect.yunet import YuNetDetector


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    return YuNetDetector()


def test_config_takes_hog_or_yunet_and_refuses_others():
    assert RecognitionConfig().detector == "yunet"  # the default since its own calibration (README)
    assert parse_config("recognition:\n  detector: hog\n", "/etc/frd/frd.yaml").recognition.detector == "hog"
    assert parse_config("recognition:\n  detector: yunet\n", "/etc/frd/frd.yaml").recognition.detector == "yunet"
    text = textwrap.dedent("""\
        recognition:
          strictness: balanced
          detector: mtcnn
        """)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/etc/frd/frd.yaml")
    msg = str(info.value)
    assert msg.startswith("/etc/frd/frd.yaml:3: recognition.detector:") and "'hog'" in msg and "'yunet'" in msg
