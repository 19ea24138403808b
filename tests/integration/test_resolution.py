"""A 720p or 1080p camera is detected at a working size and named as the 640×360 clip is.

The clip is scaled up with OpenCV in the test (no video file is written): the detector runs on the
frame reduced to ``recognition.detect_max_side`` (here 640 px), or on the part of it that moved at
full detail (never on more pixels than the reduced frame); the boxes come back in full-frame pixels
and the landmarks and chips are cut from the full frame.
"""

from __future__ import annotations

import cv2
import pytest

from edged.config import RecognitionConfig
from edged.daemon.app import build_engine, build_pipeline, build_tracker
from edged.vision.camera import frames
from edged.vision.images import load_image

NAME = "lin_manuel_miranda"


@pytest.fixture(scope="module")
def pipeline(data, still_pipeline):
    p = build_pipeline(still=False, detect_max_side=640)  # its own matcher: the session's video pipeline is shared
    photo = load_image(data / "video/enroll/lin_manuel_miranda_1.png")
    p.matcher.set_gallery({NAME: still_pipeline.faces(photo, subject_only=True)[0].embedding[None]})
    return p


def _run(tracker, clip, size: tuple[int, int] | str | None) -> dict:
    """The clip (scaled to ``size``, or ``bench``'s "far" variant) through the tracker and the event rules,
    as `frd recognize` runs it."""
    from edged.tools.bench import variant_frames

    engine = build_engine("cam", RecognitionConfig())  # the daemon's rules: a person announced once a minute
    named, events, seen, right, faces = 0, [], set(), 0, 0
    calls = tracker.detector.calls
    variant = size if isinstance(size, str) else None if size is None else f"{size[0]}x{size[1]}"
    for index, rgb in enumerate(variant_frames(str(clip), variant)):
        recs = [t.recognition for t in tracker.process(rgb, now=index / 30)]
        if tracker.detector.calls != calls:
            calls = tracker.detector.calls
            seen.add(tracker.detector.last_size)
        faces += len(recs)
        named += sum(r.name == NAME for r in recs)
        right = max([right] + [r.box.x + r.box.w for r in recs])
        events += [(e.event_type, e.name) for e in engine.feed(index, recs, index / 30)]
    return {"named": named, "events": events, "seen": seen, "right": right, "faces": faces}


def _within_640(seen: set) -> bool:
    """The detector never saw more than the frame reduced to 640 px: a part of the frame (the motion
    gate's region, at full detail) at most 640 px long and 640×360 pixels."""
    return all(max(s) <= 640 and s[0] * s[1] <= 640 * 360 for s in seen)


@pytest.fixture(scope="module")
def original(data, pipeline):
    return _run(build_tracker(pipeline, RecognitionConfig()), data / "video/short_hamilton_clip.mp4", None)


def test_at_640x360_the_detector_sees_the_frame_itself(original):
    assert original["seen"] == {(360, 640)}
    assert original["named"] >= 100
    assert [e for e in original["events"] if e[0] == "recognized"] == [("recognized", NAME)]


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_a_scaled_up_clip_is_detected_at_640_and_names_lin_as_the_original_does(data, pipeline, original, size):
    tracker = build_tracker(pipeline, RecognitionConfig())
    r = _run(tracker, data / "video/short_hamilton_clip.mp4", size)
    print(f"{size}: named {r['named']} (640x360: {original['named']}), detector saw {r['seen']}")
    assert (360, 640) in r["seen"] and _within_640(r["seen"])  # the reduced frame, or a part no larger
    assert r["right"] > 640  # ... and the boxes are in the full frame's pixels
    assert r["named"] >= 0.9 * original["named"]
    assert [e for e in r["events"] if e[0] == "recognized"] == [("recognized", NAME)]


def test_the_far_clip_is_followed_at_the_defaults_and_never_named(data, pipeline, original):
    """``frd bench``'s "far" camera: the clip shrunk to 35 % inside a black 1920×1080 frame (faces 20-77 px;
    a whole frame reduced to 640 px makes them 7-26 px). The motion gate's region is detected at full
    detail, so most faces the clip gives at full size are followed; all are under 5 % of the frame
    (54 px): counted, never named, never called unknown."""
    r = _run(build_tracker(pipeline, RecognitionConfig()), data / "video/short_hamilton_clip.mp4", "far")
    print(f"far: {r['faces']} faces followed (640x360: {original['faces']}), seen {r['seen']}")
    assert r["faces"] >= 0.5 * original["faces"]  # measured: 108 of 174 in the first 150 frames
    assert r["named"] == 0 and r["events"] == []
    assert _within_640(r["seen"])
    rc = RecognitionConfig(follow_min_face_px=40, min_face_frac=0.0)
    assert _run(build_tracker(pipeline, rc), data / "video/short_hamilton_clip.mp4", "far")["faces"] <= 0.6 * r["faces"]


def test_a_camera_may_detect_at_its_own_size_or_at_full_size(data, pipeline):
    rgb = cv2.resize(next(frames(data / "video/short_hamilton_clip.mp4")).rgb, (1920, 1080))
    for side, seen in ((960, (540, 960)), (8192, (1080, 1920))):
        tracker = build_tracker(pipeline, RecognitionConfig(), detect_max_side=side)
        tracker.process(rgb)
        assert tracker.detector.last_size == seen
    assert pipeline.detector.max_side == 640  # the shared detector is left as it was
    full = build_pipeline(still=False, detect_max_side=None, detector="hog")
    full.detector.detect(rgb)
    assert full.detector.last_size == (1080, 1920)  # HOG: None is the camera's own size
    own = build_pipeline(still=False, detect_max_side=None, detector="yunet")
    own.detector.detect(rgb)
    assert own.detector.last_size == (360, 640)  # YuNet (the default): None is its own working size, 640 px
