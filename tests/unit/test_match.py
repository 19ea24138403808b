import numpy as np
import pytest

from edged.vision.match import Calibration, Level, Matcher


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_matcher_names_the_nearest_person_above_the_threshold():
    m = Matcher(None, threshold=0.8)
    m.set_gallery({"alice": np.stack([unit([1, 0, 0]), unit([1, 0.1, 0])]), "bob": np.stack([unit([0, 1, 0])])})
    a, b, stranger = m.match(np.stack([unit([1, 0.05, 0]), unit([0.1, 1, 0]), unit([0, 0, 1])]))
    assert a.name == "alice" and a.score > 0.99
    assert b.name == "bob"
    assert stranger.name is None and stranger.best in ("alice", "bob") and stranger.score < 0.8


def test_a_person_is_the_mean_of_their_samples():
    mean = Matcher(None, threshold=0.0)
    mean.set_gallery({"alice": np.stack([unit([1, 0]), unit([0, 1])])})
    assert mean.match(unit([0, 1])[None])[0].score == pytest.approx(np.sqrt(0.5), abs=1e-5)


def test_empty_gallery_names_nobody():
    m = Matcher(None, threshold=0.5)
    m.set_gallery({})
    assert m.match(unit([1, 0])[None])[0].name is None


def test_a_matcher_needs_a_calibration_or_a_fixed_threshold():
    with pytest.raises(ValueError, match="fixed threshold"):
        Matcher(None)


def _toy_calibration(cohort, k=2, levels=None):
    levels = levels or {"strict": Level(0.005, 2.0, 1.0), "balanced": Level(0.02, 1.0, 1.0),
                        "lenient": Level(0.05, 0.0, 1.0)}
    cohort = np.stack([unit(c) for c in cohort])
    return Calibration("x", np.zeros(cohort.shape[1], np.float32), cohort, k, levels)


def test_a_look_alike_of_many_scores_lower_than_a_distinct_face():
    """Cohort normalisation: the same cosine means less for a template that resembles many generic faces."""
    d = 6
    crowd = [np.eye(d)[0] + 0.3 * np.eye(d)[i] for i in range(1, 4)]  # generic faces near axis 0
    cal = _toy_calibration([*crowd, np.eye(d)[4], -np.eye(d)[0]], k=2)
    common, distinct = unit(np.eye(d)[0] + 0.1 * np.eye(d)[5]), unit(np.eye(d)[5] + 0.1 * np.eye(d)[0])
    # a probe at the same cosine (0.9) from each template
    near_common = unit(0.9 * common + np.sqrt(1 - 0.81) * unit(np.eye(d)[3] - (np.eye(d)[3] @ common) * common))
    near_distinct = unit(0.9 * distinct + np.sqrt(1 - 0.81) * unit(np.eye(d)[2] - (np.eye(d)[2] @ distinct) * distinct))
    assert float(near_common @ common) == pytest.approx(float(near_distinct @ distinct), abs=1e-5)

    def score(template, probe):  # each template enrolled alone, so the probe's best match is that template
        m = Matcher(cal, threshold=-np.inf)
        m.set_gallery({"p": template[None]})
        return m.match(probe[None])[0].score

    assert score(common, near_common) < score(distinct, near_distinct)


def test_the_threshold_follows_the_gallery_size_and_the_level():
    cal = _toy_calibration([np.eye(3)[0], np.eye(3)[1], np.eye(3)[2]])
    m = Matcher(cal, "strict")
    m.set_gallery({"a": unit([1, 0, 0])[None]})
    one = m.threshold
    m.set_gallery({f"p{i}": unit([1, i, 0])[None] for i in range(20)})
    assert one == pytest.approx(2.0) and m.threshold == pytest.approx(2.0 + np.log(20))
    assert Matcher(cal, "lenient").threshold < Matcher(cal, "balanced").threshold < Matcher(cal, "strict").threshold
    fixed = Matcher(cal, "strict", threshold=1.5)
    fixed.set_gallery({f"p{i}": unit([1, i, 0])[None] for i in range(20)})
    assert fixed.threshold == 1.5


