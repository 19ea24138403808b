"""Several cameras: as threads, and as processes (the default).

As threads: the daemon's own ``run`` with two cameras, in process. Real parts throughout (model, detector,
people service, command thread, each camera's thread and its own interpreter); tests/fakebus.py's bus and
frame lists stand in for the broker and the cameras, so that which frames each camera sees does not depend
on how busy the machine is. The spec for two cameras is one camera: each camera's events are exactly those a
single camera gives on the same frames with the same gallery changes between the same two frames.

As processes: ``frd run`` as a subprocess with a real mosquitto, two cameras reading the real clip, each in
a child process of its own; the children are found in /proc.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _signals_and_matcher(video_pipeline):
    """``Daemon.run`` installs its signal handlers in the test process; the session's matcher is shared."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)
    video_pipeline.matcher.set_gallery({})


def test_a_capture_skips_a_blurred_moment_and_faces_far_behind():
    """The person at the camera is enrolled from good frames: a frame whose only candidate is blurred is
    skipped (not refused), a face too small to enroll is not a second candidate, two good faces are."""
    from edged.core.models import Box, Face
    from edged.service.people import Capture

    rng = np.random.default_rng(1)
    sharp = rng.integers(0, 255, (160, 160, 3), dtype=np.uint8)  # texture: sharpness far above the limit
    blurred = np.full((160, 160, 3), 128, np.uint8)
    near, far = Box(100, 50, 160, 160), Box(500, 40, 20, 20)
    cap = Capture("door", frames=2, min_interval_s=0.0)
    cap.offer([Face(near, blurred)], 0.0)
    assert cap.faces == [] and cap.skipped_poor == 1 and "blurred" in cap.last_refusal
    cap.offer([Face(near, sharp), Face(far, sharp)], 0.1)  # the far face is not a candidate
    assert len(cap.faces) == 1 and cap.skipped_multi == 0
    cap.offer([Face(near, sharp), Face(Box(300, 50, 150, 150), sharp)], 0.2)  # whose face would it be?
    assert len(cap.faces) == 1 and cap.skipped_multi == 1 and not cap.done.is_set()
    cap.offer([Face(near, sharp)], 0.3)
    assert len(cap.faces) == 2 and cap.done.is_set()


def test_a_capture_skips_a_face_the_cameras_quality_gate_holds_back():
    """A profile passes enrollment's photo limits (size, sharpness) but the camera's gate would name nobody
    from it: the frame is skipped with the gate's reason, and the held face still counts as a second person."""
    from edged.core.models import Box, Face
    from edged.service.people import Capture

    sharp = np.random.default_rng(2).integers(0, 255, (160, 160, 3), dtype=np.uint8)
    near, beside = Box(100, 50, 160, 160), Box(300, 50, 150, 150)
    cap = Capture("door", frames=1, min_interval_s=0.0)
    cap.offer([Face(near, sharp)], 0.0, ["turned"])
    assert cap.faces == [] and cap.skipped_poor == 1 and "quality gate" in cap.last_refusal
    assert "turned" in cap.last_refusal
    cap.offer([Face(near, sharp), Face(beside, sharp)], 0.1, [None, "turned"])  # whose face would it be?
    assert cap.faces == [] and cap.skipped_multi == 1
    cap.offer([Face(near, sharp)], 0.2, [None])
    assert len(cap.faces) == 1 and cap.done.is_set()
