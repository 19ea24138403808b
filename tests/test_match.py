import numpy as np
import pytest

from edged.detect import Box
from edged.match import Matcher
from edged.vote import Vote


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_matcher_names_the_nearest_person_above_the_threshold():
    m = Matcher(threshold=0.8)
    m.set_gallery({"alice": np.stack([unit([1, 0, 0]), unit([1, 0.1, 0])]), "bob": np.stack([unit([0, 1, 0])])})
    a, b, stranger = m.match(np.stack([unit([1, 0.05, 0]), unit([0.1, 1, 0]), unit([0, 0, 1])]))
    assert a.name == "alice" and a.score > 0.99
    assert b.name == "bob"
    assert stranger.name is None and stranger.best in ("alice", "bob") and stranger.score < 0.8


def test_max_mode_scores_the_best_single_sample():
    m = Matcher(threshold=0.0, mode="max")
    m.set_gallery({"alice": np.stack([unit([1, 0]), unit([0, 1])])})
    (r,) = m.match(unit([0, 1])[None])
    assert r.score == pytest.approx(1.0)
    mean = Matcher(threshold=0.0)
    mean.set_gallery({"alice": np.stack([unit([1, 0]), unit([0, 1])])})
    assert mean.match(unit([0, 1])[None])[0].score == pytest.approx(np.sqrt(0.5), abs=1e-5)


def test_empty_gallery_names_nobody():
    m = Matcher()
    m.set_gallery({})
    assert m.match(unit([1, 0])[None])[0].name is None


def test_vote_confirms_after_enough_agreeing_frames():
    v = Vote(frames=3, window=5)
    box = Box(10, 10, 50, 50)
    seen = []
    for i, name in enumerate(["alice", None, "alice", "bob", "alice", "alice"]):
        (d,) = v.update(i, [(Box(10 + i, 10, 50, 50), name, 0.7)])
        seen.append((d.confirmed, d.newly_confirmed))
    assert seen[3] == (None, False)
    assert seen[4] == ("alice", True)  # third alice within five sightings
    assert seen[5] == ("alice", False)  # announced once
    assert v.update(6, [(box, "alice", 0.7)])[0].track == 0  # same track followed


def test_vote_keeps_separate_faces_apart():
    v = Vote(frames=2, window=3)
    left, right = Box(0, 0, 40, 40), Box(200, 0, 40, 40)
    for i in range(2):
        d = v.update(i, [(left, "alice", 0.9), (right, "bob", 0.9)])
    assert [x.confirmed for x in d] == ["alice", "bob"]
    assert d[0].track != d[1].track


def test_vote_forgets_tracks_after_a_gap():
    v = Vote(frames=1, window=1, max_gap=2)
    first = v.update(0, [(Box(0, 0, 40, 40), "alice", 0.9)])[0]
    later = v.update(10, [(Box(0, 0, 40, 40), "alice", 0.9)])[0]
    assert later.track != first.track and later.newly_confirmed
