"""The video fast path may skip work, never people: entering, leaving and swapped faces are caught in time."""

from __future__ import annotations


def test_a_stranger_who_resembles_someone_in_a_few_frames_stays_unknown():
    """The track's verdict needs a name in >= min_votes and more than half of its embeddings."""
    from edged.video.track import verdict

    look_alike = [None, "alice", None, None, "alice", None, "alice", None, None, None]
    assert [verdict(look_alike[: i + 1], 3) for i in range(len(look_alike))][-1] == (None, True)
    assert all(v[0] is None for v in (verdict(look_alike[: i + 1], 3) for i in range(len(look_alike))))
    assert verdict(["alice", None, "alice", "alice"], 3) == ("alice", True)
    assert verdict(["alice", "alice"], 3) == (None, False)  # too early to say anything
    assert verdict([None, None, "bob", "alice"], 3) == (None, False)  # no majority: no verdict, no event


def test_the_quality_gate_refuses_small_blurred_and_turned_faces_and_passes_a_good_one():
    from edged.vision.quality import GATE_YAW, MIN_FACE_PX, MIN_SHARPNESS, Gate, Quality

    gate = Gate()
    assert gate.reason(Quality(MIN_FACE_PX + 20, MIN_SHARPNESS * 4, 0.05)) is None
    assert gate.reason(Quality(MIN_FACE_PX - 1, MIN_SHARPNESS * 4, 0.05)) == "small"
    assert gate.reason(Quality(MIN_FACE_PX + 20, MIN_SHARPNESS - 0.5, 0.05)) == "blurred"
    assert gate.reason(Quality(MIN_FACE_PX + 20, MIN_SHARPNESS * 4, -(GATE_YAW + 0.05))) == "turned"
    assert gate.reason(Quality(MIN_FACE_PX + 20, MIN_SHARPNESS * 4, None)) is None  # no landmarks: no yaw claim


def test_the_gates_size_limit_takes_a_fraction_of_the_frame():
    from edged.vision.quality import Gate, Quality

    gate = Gate(min_face_px=40, min_face_frac=0.05)
    assert gate.small(50, 1080) and not gate.small(55, 1080)  # 5 % of 1080 is 54 px
    assert not gate.small(40, 360) and gate.small(39, 360)  # 5 % of 360 is 18 px: 40 px decides
    assert gate.reason(Quality(50, 40.0, 0.0), 1080) == "small"
    assert gate.reason(Quality(50, 40.0, 0.0), 720) is None
