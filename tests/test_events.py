"""Event rules: confirm by vote, then stay quiet for the cooldown; unknowns rate-limited."""

from edged.detect import Box
from edged.events import EventEngine
from edged.pipeline import Recognition


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def face(name, x=10, score=0.8):
    return Recognition(Box(x, 10, 80, 80), name, score, name, 80)


def run(engine, clock, names_per_frame, start=0):
    out = []
    for i, names in enumerate(names_per_frame, start):
        clock.t += 0.1
        out += engine.feed(i, [face(n, x=10 + 300 * j) for j, n in enumerate(names)])
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
                      "frame_ts"}
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
