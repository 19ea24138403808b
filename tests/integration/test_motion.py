"""The motion gate: an unchanging picture costs (almost) no detection, and nobody who walks in is lost."""

from __future__ import annotations

from itertools import pairwise

import pytest

from edged.config import RecognitionConfig
from edged.daemon.app import build_engine, build_pipeline, build_tracker
from edged.tools.bench import empty_doorway as empty_doorway_of
from edged.vision.camera import frames
from edged.vision.images import load_image

NAME = "lin_manuel_miranda"
FPS = 30


@pytest.fixture(scope="module")
def pipeline(data, still_pipeline):
    p = build_pipeline(still=False)
    photo = load_image(data / "video/enroll/lin_manuel_miranda_1.png")
    p.matcher.set_gallery({NAME: still_pipeline.faces(photo, subject_only=True)[0].embedding[None]})
    return p


@pytest.fixture(scope="module")
def clip(data):
    return [f.rgb for f in frames(data / "video/short_hamilton_clip.mp4")]


def _feed(tracker, engine, rgbs, start: int) -> tuple[int, list]:
    named, events = 0, []
    for i, rgb in enumerate(rgbs, start):
        recs = [t.recognition for t in tracker.process(rgb, now=i / FPS)]
        named += sum(r.name == NAME for r in recs)
        events += [(e.event_type, e.name) for e in engine.feed(i, recs, i / FPS)]
    return named, events


@pytest.fixture(scope="module")
def empty_doorway(clip):
    """The clip's first frame with its people painted out (YuNet finds the turned and distant faces in it
    that HOG did not): the stage with nobody on it."""
    return empty_doorway_of(clip[0])


def test_idle_frames_cost_no_detection_and_lin_walking_in_is_still_named(pipeline, clip, empty_doorway):
    rc = RecognitionConfig()
    assert rc.motion.enabled and rc.motion.check_every_s == 2
    tracker, engine = build_tracker(pipeline, rc), build_engine("door", rc)
    calls = pipeline.detector.calls
    idle = [empty_doorway] * (6 * FPS)  # six seconds of an empty picture: nobody there, nothing moves
    assert _feed(tracker, engine, idle, 0) == (0, [])
    idle_calls = pipeline.detector.calls - calls
    # the first frame only: with nobody followed and a still picture the periodic check waits (up to 10 s),
    # so 1 of the 60 detections the gate-less path runs
    assert idle_calls == 1
    assert tracker.motion.still_skipped == 2  # the checks due at 2 and 4 s
    assert tracker.motion.skipped >= len(idle) // rc.detect_every - idle_calls
    named, events = _feed(tracker, engine, clip, len(idle))
    print(f"idle detections {idle_calls}/{len(idle) // rc.detect_every}; then the clip: named {named}, {events}")
    assert named >= 100
    assert [e for e in events if e[0] == "recognized"] == [("recognized", NAME)]


def test_the_gate_does_not_change_what_the_clip_gives(pipeline, clip):
    """On a live picture the gate skips (nearly) nothing, so every frame has the same faces with the same
    names; where it skipped a detection the faces are followed instead of detected for a few frames, so
    their boxes may differ by the follower's few pixels until the next detection."""
    out, skipped = {}, 0
    for enabled in (True, False):
        tracker = build_tracker(pipeline, RecognitionConfig(motion={"enabled": enabled}))
        out[enabled] = [[(t.recognition.box, t.recognition.name) for t in tracker.process(rgb, now=i / FPS)]
                        for i, rgb in enumerate(clip)]
        if enabled:
            skipped = tracker.motion.skipped
    detections = len(clip) // RecognitionConfig().detect_every
    assert skipped <= 0.02 * detections  # measured: 1 of 92
    assert [sorted(n for _, n in f if n) for f in out[True]] == [sorted(n for _, n in f if n) for f in out[False]]
    assert [len(f) for f in out[True]] == [len(f) for f in out[False]]
    moved = [i for i, (a, b) in enumerate(zip(out[True], out[False], strict=True))
             if sorted(a, key=str) != sorted(b, key=str)]
    assert len(moved) <= skipped * 2 * RecognitionConfig().detect_every, moved  # measured: 6 frames after 1 skip


def test_a_person_standing_still_stays_followed_and_named_with_few_detections(pipeline, clip):
    rc = RecognitionConfig()
    tracker = build_tracker(pipeline, rc)
    calls = pipeline.detector.calls
    still = [clip[200]] * (5 * FPS)  # Lin, not moving, for five seconds
    named, _ = _feed(tracker, build_engine("door", rc), still, 0)
    detections = pipeline.detector.calls - calls
    assert detections <= 1 + 5 // 2  # found at once, then only the periodic check
    assert named >= len(still) - 2 * rc.vote_frames  # named on (nearly) every frame once his verdict stands


def test_motion_off_detects_every_detect_every_frames(pipeline, clip):
    tracker = build_tracker(pipeline, RecognitionConfig(motion={"enabled": False}))
    assert tracker.motion is not None and tracker.motion.skip is False  # it only says where the picture changed
    calls = pipeline.detector.calls
    for i in range(30):
        tracker.process(clip[0], now=i / FPS)
    assert pipeline.detector.calls - calls == 10


def test_an_idle_tracker_lets_the_camera_pass_over_frames_and_still_names_lin_walking_in(pipeline, clip,
                                                                                          empty_doorway):
    """The daemon's idle loop: after each frame the camera passes over the frames the tracker says it will
    not look at (``idle_frames``), and hands the next one with their count (``skipped``)."""
    rc = RecognitionConfig()
    tracker, engine = build_tracker(pipeline, rc), build_engine("door", rc)
    stream = [empty_doorway] * (3 * FPS) + clip  # three empty seconds, then Lin walks in
    i, handed, named, events = 0, 0, 0, []
    while i < len(stream):
        skip = tracker.idle_frames()
        assert skip <= rc.detect_every - 1
        i += skip
        if i >= len(stream):
            break
        recs = [t.recognition for t in tracker.process(stream[i], now=i / FPS, skipped=skip)]
        named += sum(r.name == NAME for r in recs)
        events += [(e.event_type, e.name) for e in engine.feed(i, recs, i / FPS)]
        handed += 1
        i += 1
    idle_handed = sum(1 for _ in range(0, 3 * FPS, rc.detect_every))
    assert handed <= idle_handed + len(clip)  # of the empty seconds, one frame in detect_every was read
    assert tracker.motion.skipped >= idle_handed - 2  # and each of those was a motion check, not a detection
    assert named >= 100
    assert [e for e in events if e[0] == "recognized"] == [("recognized", NAME)]


def test_the_camera_reader_passes_over_the_frames_it_is_told_to(data):
    from edged.vision.camera import CameraReader

    reader = CameraReader("door", str(data / "video/short_hamilton_clip.mp4"), loop=False, fps_limit=None).start()
    try:
        first = reader.take(10)
        assert first is not None and first.skipped == 0
        seen = [first]
        for _ in range(10):
            reader.skip_ahead(2)
            frame = reader.take(5)
            assert frame is not None
            seen.append(frame)
        assert reader.dropped == 0  # every frame was taken or passed over: the gaps are the frames passed over
        assert [b.index - a.index - 1 for a, b in pairwise(seen)] == [f.skipped for f in seen[1:]]
        # most requests land between two frames; one that arrives after the next frame was read applies to
        # the frames after it
        assert sum(f.skipped for f in seen) >= 10
    finally:
        reader.stop()


def test_a_camera_with_an_fps_limit_passes_over_nothing(data):
    """Its schedule already thins the frames: passing over more would compound the two."""
    from edged.vision.camera import CameraReader

    reader = CameraReader("door", str(data / "video/short_hamilton_clip.mp4"), loop=False, fps_limit=10).start()
    try:
        frames = []
        for _ in range(4):
            reader.skip_ahead(2)
            frame = reader.take(5)
            assert frame is not None
            frames.append(frame)
        assert [f.skipped for f in frames] == [0, 0, 0, 0]
    finally:
        reader.stop()
