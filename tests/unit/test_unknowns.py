"""Unknown faces held in memory (edged/store/unknowns.py): the store's rules, then ``frd run`` end to end.

The store is pure (an injectable clock), so its bounds — at most ``keep`` entries, each for at most
``ttl_s``, the best few chips per track, nothing held with ``keep: 0`` — are tested directly; the
last test runs the real daemon on the looping clip with a real mosquitto.
"""

from __future__ import annotations

import numpy as np
import pytest

from edged.core.errors import InputError
from edged.core.models import Box
from edged.store.unknowns import CHIPS_PER_FACE, Sample, UnknownFaces


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def sample(px: int = 100, sharp: float = 50.0, usable: bool = True, value: float = 0.0) -> Sample:
    return Sample(np.full((160, 160, 3), int(value) % 256, np.uint8), np.full(512, value, np.float32),
                  Box(0, 0, px, px), sharp, usable)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_keep_zero_holds_nothing_and_refuses_to_enroll(clock):
    store = UnknownFaces(0, clock=clock)
    store.offer("door", 1, sample())
    assert store.chips_held() == 0 and len(store) == 0
    assert store.announce("door", 1) is None
    with pytest.raises(InputError, match=r"unknown_faces\.keep is 0"):
        store.faces(["a1b2c3d4e5f6"])


def test_a_track_is_one_entry_with_its_best_chips_and_gets_an_id_when_announced(clock):
    store = UnknownFaces(5, clock=clock)
    for i in range(CHIPS_PER_FACE + 4):
        store.offer("door", 7, sample(px=60 + i, value=i))
    store.offer("door", 7, sample(px=500, usable=False, value=99))  # big but refused by the screen: ranked last
    assert len(store) == 1 and store.chips_held() == CHIPS_PER_FACE
    assert store.listing()["faces"] == []  # not announced yet: nobody was told about it
    fid = store.announce("door", 7)
    assert fid is not None and len(fid) == 12 and store.announce("door", 7) == fid
    [entry] = store.listing()["faces"]
    assert entry["face_id"] == fid and entry["camera"] == "door" and entry["chips"] == CHIPS_PER_FACE
    assert entry["face_px"] == 60 + CHIPS_PER_FACE + 3 and entry["ts"].endswith("Z")
    faces = store.faces([fid])
    assert [f.face_px for _, f in faces] == [68, 67, 66, 65, 64]  # best first, the refused one dropped
    assert all(label == f"unknown:{fid}" for label, _ in faces)
    assert faces[0][1].embedding is not None and faces[0][1].chip.shape == (160, 160, 3)


def test_at_most_keep_entries_undecided_ones_go_first(clock):
    store = UnknownFaces(2, clock=clock)
    store.offer("door", 1, sample())
    old = store.announce("door", 1)
    clock.t += 1
    store.offer("door", 2, sample())  # undecided
    clock.t += 1
    store.offer("door", 3, sample())  # full: the undecided track 2 makes room, not the announced one
    assert len(store) == 2 and store.announce("door", 2) is None
    new = store.announce("door", 3)
    clock.t += 1
    store.offer("door", 4, sample())  # full of announced entries: the oldest goes
    assert [f["face_id"] for f in store.listing()["faces"]] == [new]
    with pytest.raises(InputError, match="no unknown face"):
        store.faces([old])


def test_entries_expire_after_ttl_and_a_restart_keeps_nothing(clock):
    store = UnknownFaces(5, ttl_s=60, clock=clock)
    store.offer("door", 1, sample())
    fid = store.announce("door", 1)
    clock.t += 59
    store.offer("door", 1, sample())  # more chips do not extend the entry's life
    assert store.listing()["faces"][0]["expires_in_s"] == 1
    clock.t += 1
    store.expire()
    assert len(store) == 0 and store.chips_held() == 0
    with pytest.raises(InputError, match="ttl_s = 60 s"):
        store.faces([fid])
    assert UnknownFaces(5, clock=clock).listing()["faces"] == []  # a new process: memory only


def test_lost_tracks_drop_their_undecided_entries_only(clock):
    store = UnknownFaces(5, clock=clock)
    for track in (1, 2, 3):
        store.offer("door", track, sample())
    kept = store.announce("door", 3)
    store.followed("door", [1, 3])  # track 2 left the picture before any verdict
    store.followed("garden", [])  # another camera's tracks say nothing about this one's
    assert len(store) == 2 and store.listing()["faces"][0]["face_id"] == kept
    store.followed("door", [])  # an announced face stays until forgotten, enrolled or expired
    assert len(store) == 1 and store.listing()["faces"][0]["face_id"] == kept


def test_named_faces_are_held_with_an_id_for_reassign_but_not_listed_as_unknown(clock):
    store = UnknownFaces(5, clock=clock)
    store.offer("door", 1, sample())
    store.offer("door", 2, sample())
    alice = store.announce("door", 1, "alice", "e1" * 16)
    stranger = store.announce("door", 2, None, "e2" * 16)
    assert alice and stranger and alice != stranger
    assert [f["face_id"] for f in store.listing()["faces"]] == [stranger]  # only unknown faces are listed
    fid, who, label, faces = store.recent(event_id="e1" * 16)
    assert (fid, who, label) == (alice, "alice", f"unknown:{alice}") and len(faces) == 1
    assert store.recent(face_id=stranger)[1] is None
    store.enrolled([stranger], "bob")  # enrolled: no longer unknown, still held for a reassign
    assert store.listing()["faces"] == [] and store.recent(face_id=stranger)[1] == "bob"
    assert store.announce("door", 1, "carol", "e3" * 16) == alice  # a track keeps its id
    assert store.recent(event_id="e1" * 16)[1] == "carol" == store.recent(event_id="e3" * 16)[1]
    with pytest.raises(InputError, match=r"no recent face of event .* not across restarts"):
        store.recent(event_id="f" * 32)
    with pytest.raises(InputError, match=r"no recent face '000000000000'.*not across restarts"):
        store.recent(face_id="0" * 12)
    with pytest.raises(InputError, match=r"unknown_faces\.keep is 0"):
        UnknownFaces(0, clock=clock).recent(face_id=alice)


def _unit(*values: float) -> np.ndarray:
    v = np.zeros(512, np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


def test_entries_of_one_visitor_share_a_visitor_id_judged_by_the_matcher():
    from edged.store.unknowns import group_visitors
    from edged.vision.match import Matcher

    a, a2, b = _unit(1, 0.1), _unit(1, -0.1), _unit(0, 1)  # cos(a, a2) = 0.98, cos(a, b) = 0.1
    entries = [("aaaaaaaaaaaa", np.stack([a, a])), ("bbbbbbbbbbbb", np.stack([b])), ("cccccccccccc", np.stack([a2]))]
    strict = Matcher(threshold=0.99)  # a plain-cosine matcher with a fixed threshold: its verdicts decide
    assert group_visitors(entries, Matcher(threshold=0.9)) == {
        "aaaaaaaaaaaa": "aaaaaaaaaaaa", "bbbbbbbbbbbb": "bbbbbbbbbbbb", "cccccccccccc": "aaaaaaaaaaaa"}
    assert set(group_visitors(entries, strict).values()) == {"aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"}
    # half the samples are not enough: the same majority a name needs
    split = [("aaaaaaaaaaaa", np.stack([a])), ("dddddddddddd", np.stack([a2, b]))]
    assert group_visitors(split, Matcher(threshold=0.9))["dddddddddddd"] == "dddddddddddd"


def test_the_list_shows_visitors_and_a_visitor_is_enrolled_whole(clock):
    from edged.vision.match import Matcher

    store = UnknownFaces(5, clock=clock)
    for track, v in ((1, _unit(1, 0.1)), (2, _unit(0, 1)), (3, _unit(1, -0.1))):
        store.offer("door", track, Sample(np.zeros((160, 160, 3), np.uint8), v, Box(0, 0, 100, 100), 50.0))
        store.announce("door", track)
        clock.t += 1
    ids = [store.announce("door", t) for t in (1, 2, 3)]
    listed = {f["face_id"]: f["visitor"] for f in store.listing(Matcher(threshold=0.9))["faces"]}
    assert listed == {ids[0]: ids[0], ids[1]: ids[1], ids[2]: ids[0]}
    assert {f["visitor"] for f in store.listing()["faces"]} == set(ids)  # no matcher: each its own
    assert store.visitor_faces([ids[2]], Matcher(threshold=0.9)) == [ids[0], ids[2]]
    assert store.visitor_faces([ids[1]], Matcher(threshold=0.9)) == [ids[1]]
    with pytest.raises(InputError, match="no unknown face"):
        store.visitor_faces(["0" * 12], Matcher(threshold=0.9))


def test_forget_one_or_all_and_unknown_ids_are_refused_cleanly(clock):
    store = UnknownFaces(5, clock=clock)
    ids = []
    for track in (1, 2, 3):
        store.offer("door", track, sample())
        ids.append(store.announce("door", track))
    assert store.forget([ids[0]]) == [ids[0]]
    with pytest.raises(InputError, match="no unknown face"):
        store.forget([ids[0]])
    assert len(store) == 2
    store.discard([ids[1], "0" * 12])  # after an enrollment: silently, whatever is still there
    assert store.forget(None) == [ids[2]] and len(store) == 0
