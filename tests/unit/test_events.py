"""Event rules: confirm by vote per track, then stay quiet for the cooldown; unknowns rate-limited.

The rules see faces as the tracker gives them: each recognition carries its track id. Here the
ids are given by hand (face ``j`` of a run is track ``start + j``: a face that comes back later
is a new track, as the tracker makes it).
"""

import pytest

from edged.core.models import Box, Recognition
from edged.video.events import EventEngine
from edged.video.track import FrameIds


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def face(name, track, x=10, score=0.8, pending=False):
    return Recognition(Box(x, 10, 80, 80), name, score, name, 80, pending=pending, track=track)


def run(engine, clock, names_per_frame, start=0):
    out = []
    for i, names in enumerate(names_per_frame, start):
        clock.t += 0.1
        out += engine.feed(i, [face(n, start + j, x=10 + 300 * j) for j, n in enumerate(names)])
    return out


def test_a_person_is_announced_once_confirmed_and_not_again_within_the_cooldown():
    clock = Clock()
    e = EventEngine("front", vote_frames=3, vote_window=5, cooldown_s=60, clock=clock)
    events = run(e, clock, [["alice"], ["alice"]])
    assert events == []
    events = run(e, clock, [["alice"], ["alice"]] * 5, start=2)
    assert [ev.name for ev in events] == ["alice"]
    p = events[0].payload("door", "facenet_int8@abc")
    assert p["event_type"] == "recognized" and p["camera"] == "front" and p["device"] == "door"
    assert set(p) == {"event_id", "event_type", "ts", "device", "camera", "name", "score", "box", "face_px", "model",
                      "frame_ts", "face_id"}
    assert p["ts"].endswith("Z")
    # the person leaves and comes back after the track is forgotten, still within the cooldown: silence
    clock.t += 30
    assert run(e, clock, [["alice"]] * 5, start=100) == []
    # after the cooldown: announced again
    clock.t += 61
    assert [ev.name for ev in run(e, clock, [["alice"]] * 5, start=200)] == ["alice"]


def test_a_single_wrong_frame_announces_nobody():
    clock = Clock()
    e = EventEngine("front", vote_frames=3, vote_window=5, clock=clock)
    assert run(e, clock, [["alice"], [None], ["bob"], [None], ["alice"]]) == []


def test_unknown_faces_are_rate_limited_per_camera():
    clock = Clock()
    e = EventEngine("front", vote_frames=3, vote_window=5, unknown_cooldown_s=30, clock=clock)
    events = run(e, clock, [[None]] * 10)
    assert [ev.event_type for ev in events] == ["unknown"]
    assert events[0].payload("d", "m")["name"] is None
    # a second stranger 5 s later: rate-limited
    clock.t += 5
    assert run(e, clock, [[None, None]] * 5, start=100) == []
    clock.t += 31
    assert len(run(e, clock, [[None]] * 5, start=300)) == 1


def test_two_people_in_one_frame_are_both_announced():
    clock = Clock()
    e = EventEngine("front", vote_frames=2, vote_window=3, clock=clock)
    events = run(e, clock, [["alice", "bob"]] * 3)
    assert sorted(ev.name for ev in events) == ["alice", "bob"]


def test_votes_are_counted_per_track_id_not_by_where_the_box_is():
    """Two tracks in the same place (one left, another stepped in): each needs its own votes."""
    clock = Clock()
    e = EventEngine("front", vote_frames=3, vote_window=5, clock=clock)
    seen = []
    for i, (track, name) in enumerate([(1, "alice"), (1, "alice"), (2, "alice"), (2, "alice"), (1, "alice")]):
        seen += [(i, ev.name) for ev in e.feed(i, [face(name, track)])]
    assert seen == [(4, "alice")]  # the third vote of track 1, not the third sighting at that spot


def test_a_name_is_confirmed_after_enough_agreeing_frames_of_the_window_and_announced_once():
    clock = Clock()
    e = EventEngine("front", vote_frames=3, vote_window=5, cooldown_s=0, clock=clock)
    seen = []
    for i, name in enumerate(["alice", None, "alice", "bob", "alice", "alice"]):
        clock.t += 0.1
        seen.append([ev.name for ev in e.feed(i, [face(name, 7, x=10 + i)])])
    assert seen == [[], [], [], [], ["alice"], []]  # third alice within five sightings; once


def test_pending_faces_do_not_vote():
    clock = Clock()
    e = EventEngine("front", vote_frames=3, vote_window=5, clock=clock)
    assert [ev for i in range(6) for ev in e.feed(i, [face(None, 1, pending=True)])] == []
    out = [ev.name for i in range(6, 9) for ev in e.feed(i, [face("alice", 1)])]
    assert out == ["alice"]


def test_a_track_is_forgotten_after_frames_without_it():
    clock = Clock()
    e = EventEngine("front", vote_frames=2, vote_window=3, cooldown_s=0, max_gap=2, clock=clock)
    assert e.feed(0, [face("alice", 1)]) == []
    for i in range(1, 4):  # three processed frames without it
        assert e.feed(i, []) == []
    assert e.feed(4, [face("alice", 1)]) == []  # frame 0's vote is forgotten: one vote again
    assert [ev.name for ev in e.feed(5, [face("alice", 1)])] == ["alice"]


def test_a_slow_board_that_processes_one_camera_frame_in_many_still_names_the_face():
    """Gaps in the camera's frame numbers (frames dropped while the board was busy) are no gaps in the track."""
    clock = Clock()
    e = EventEngine("front", vote_frames=3, vote_window=5, cooldown_s=0, max_gap=2, clock=clock)
    out = [ev.name for i in range(3) for ev in e.feed(35 * i, [face("alice", 1)])]
    assert out == ["alice"]


def test_a_face_without_a_track_id_is_refused():
    e = EventEngine("front")
    with pytest.raises(ValueError, match=r"Recognition\.track"):
        e.feed(0, [Recognition(Box(0, 0, 50, 50), "alice", 0.9, "alice", 50)])


def test_vote_frames_beyond_the_window_are_refused():
    with pytest.raises(ValueError, match="vote_frames"):
        EventEngine("front", vote_frames=4, vote_window=3)


def test_frame_ids_follow_a_face_by_overlap_for_paths_without_the_tracker():
    """The every-frame path gets ids by the tracker's own association rule."""
    ids = FrameIds()

    def rec(x):
        return Recognition(Box(x, 0, 40, 40), None, 0.0, None, 40)

    first = [r.track for r in ids([rec(0), rec(200)])]
    moved = [r.track for r in ids([rec(205), rec(4)])]  # both moved a little, listed the other way round
    assert first == [0, 1] and moved == [1, 0]
    assert [r.track for r in ids([rec(400)])] == [2]  # no overlap: a new face
    assert [r.track for r in ids([rec(4)])] == [3]  # gone for a frame: a new track, as the tracker drops it
