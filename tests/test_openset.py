"""Issue 7, strangers stay strangers: the centred matcher, the strictness knob, and no stranger announced."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edged.camera import frames
from edged.cohort import CENTER_FILE, Center, load_center
from edged.config import ConfigError, parse_config
from edged.embed import MODEL_MANIFEST, Manifest, model_dir
from edged.errors import ModelError
from edged.evaluate import chips_for, load_dataset, open_set
from edged.events import EventEngine
from edged.match import DEFAULT_THRESHOLD, STRICTNESS, Matcher, threshold_for
from edged.pipeline import Recognition


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


# -- the knob ------------------------------------------------------------------------------


def test_strictness_levels_are_ordered_and_strict_is_the_default():
    assert STRICTNESS["strict"] > STRICTNESS["balanced"] > STRICTNESS["lenient"]
    assert threshold_for() == DEFAULT_THRESHOLD == STRICTNESS["strict"]
    assert threshold_for("strict") == STRICTNESS["strict"]


def test_an_explicit_threshold_overrides_the_strictness():
    assert threshold_for("strict", 0.3) == 0.3
    assert threshold_for("lenient", 0.0) == 0.0
    with pytest.raises(ValueError, match="strict, balanced, lenient"):
        threshold_for("paranoid")


def test_config_takes_strictness_and_refuses_other_words():
    cfg = parse_config("recognition:\n  strictness: strict\n", "f.yaml")
    assert cfg.recognition.strictness == "strict" and cfg.recognition.threshold is None
    assert parse_config("", "f.yaml").recognition.strictness == "strict"
    with pytest.raises(ConfigError) as e:
        parse_config("recognition:\n  strictness: paranoid\n", "f.yaml")
    assert e.value.problems[0].startswith("f.yaml:2: recognition.strictness:")


# -- the centre ----------------------------------------------------------------------------


def test_centring_removes_the_component_every_face_shares():
    common = np.array([1.0, 0, 0, 0], np.float32)
    alice, bob = unit(common + np.array([0, 1, 0, 0])), unit(common + np.array([0, 0, 1, 0]))
    plain = Matcher(threshold=0.4)
    plain.set_gallery({"alice": alice[None]})
    centred = Matcher(threshold=0.4, center=common / np.sqrt(2))
    centred.set_gallery({"alice": alice[None]})
    assert plain.match(bob[None])[0].name == "alice"  # 0.5: a stranger named
    (r,) = centred.match(bob[None])
    assert r.name is None and abs(r.score) < 1e-6
    assert centred.match(alice[None])[0].score == pytest.approx(1.0)


def test_the_shipped_centre_belongs_to_the_shipped_model():
    sha = Manifest.load(model_dir() / MODEL_MANIFEST).sha256
    c = load_center(sha)
    assert c.vector.shape == (512,) and c.faces > 0
    assert 0.2 < float(np.linalg.norm(c.vector)) < 0.8


def test_a_centre_made_for_another_model_is_refused(tmp_path):
    good = json.loads((model_dir() / CENTER_FILE).read_text())
    p = tmp_path / CENTER_FILE
    p.write_text(json.dumps({**good, "model_sha256": "0" * 64}))
    with pytest.raises(ModelError, match="rebuild it"):
        load_center(good["model_sha256"], p)
    p.write_text("{")
    with pytest.raises(ModelError, match="unreadable"):
        load_center(good["model_sha256"], p)


def test_center_apply_gives_unit_vectors():
    c = Center(np.full(4, 0.1, np.float32), "x")
    out = c.apply(np.eye(4, dtype=np.float32))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


# -- single images: aligned112 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def aligned_emb(data, still_pipeline):
    chips = chips_for(load_dataset(data / "aligned112"), still_pipeline.aligner)
    return {k: still_pipeline.embedder.embed(v) for k, v in chips.items()}


def test_strangers_named_at_most_1_percent_while_86_percent_of_enrolled_people_are_named(aligned_emb, still_pipeline):
    center = still_pipeline.matcher.center
    frd = open_set(aligned_emb, 5, 3, "mean", center)
    base = open_set(aligned_emb, 5, 3, "mean", None)
    (t1, _), (b1, _) = frd.tpir_at(0.01), base.tpir_at(0.01)
    h1, h5 = frd.held_out(0.01), frd.held_out(0.05)
    print(f"TPIR@FPIR<=1%: frd {t1:.3f} baseline {b1:.3f}; held out {h1}, {h5}")
    assert t1 >= 0.86 and t1 > b1
    assert frd.tpir_at(0.05)[0] > base.tpir_at(0.05)[0]
    # thresholds chosen on other identities hold on these (600 stranger probes: 1 % is 6 faces)
    assert h1[0] >= 0.86 and h1[1] <= 0.015
    assert h5[0] >= 0.89 and h5[1] <= 0.06


def test_the_shipped_levels_keep_their_promise_on_aligned112(aligned_emb, still_pipeline):
    osr = open_set(aligned_emb, 5, 3, "mean", still_pipeline.matcher.center)
    strict, balanced, lenient = (osr.at(STRICTNESS[k]) for k in ("strict", "balanced", "lenient"))
    print(f"strict {strict} balanced {balanced} lenient {lenient}")
    assert strict[1] <= 0.01 and strict[0] >= 0.86
    assert balanced[1] <= 0.05 and balanced[0] >= 0.89
    assert lenient[0] > balanced[0] and lenient[1] > balanced[1]


# -- video and scenes: no stranger is ever announced ---------------------------------------


@pytest.fixture(scope="module")
def clip_faces(data, video_pipeline):
    """Per frame: the faces frd's video pipeline finds (boxes and embeddings)."""
    out = []
    for f in frames(str(data / "video/short_hamilton_clip.mp4")):
        out.append((f.index, [(x.box, x.embedding, x.face_px) for x in video_pipeline.faces(f.rgb)]))
    return out


def _first_face(pipeline, path):
    return pipeline.faces(next(frames(path)).rgb, largest_only=True, still=True)[0].embedding[None]


def _events(per_frame, gallery, center, level):
    """Recognized/unknown events of the daemon's rules over per-frame faces, with a 30 fps clock."""
    m = Matcher(threshold_for(level), center=center)
    m.set_gallery(gallery)
    now = [0.0]
    engine = EventEngine("test", clock=lambda: now[0])
    events, named = [], 0
    for index, faces in per_frame:
        now[0] = index / 30
        recs = []
        if faces:
            for (box, _, px), r in zip(faces, m.match(np.stack([e for _, e, _ in faces])), strict=True):
                recs.append(Recognition(box, r.name, r.score, r.best, px))
                named += r.name is not None
        events += engine.feed(index, recs)
    return [e.name for e in events if e.name is not None], named


@pytest.mark.parametrize("level", list(STRICTNESS))
def test_the_clip_announces_lin_manuel_miranda_and_no_one_else(data, clip_faces, video_pipeline, level):
    """Enroll only Lin-Manuel Miranda: he is announced, the blurred face in the audience never is."""
    lin = _first_face(video_pipeline, data / "video/enroll/lin_manuel_miranda_1.png")
    names, named = _events(clip_faces, {"lin_manuel_miranda": lin}, video_pipeline.matcher.center, level)
    print(f"{level}: {named} faces named, events {names}")
    assert names == ["lin_manuel_miranda"]
    assert named >= 100


@pytest.mark.parametrize("level", ["strict", "balanced"])
def test_lin_manuel_miranda_is_not_announced_as_alex_lacamoire(data, clip_faces, video_pipeline, level):
    """Enroll only Alex Lacamoire (from the clip's own production): everyone in the clip is a stranger."""
    alex = _first_face(video_pipeline, data / "video/enroll/alex_lacamoire_1.png")
    names, named = _events(clip_faces, {"alex_lacamoire": alex}, video_pipeline.matcher.center, level)
    print(f"{level}: {named} faces named, events {names}")
    assert names == []


def test_strict_announces_no_stranger_against_a_gallery_of_sixteen(data, clip_faces, video_pipeline):
    """16 people of people/ enrolled from one photo each; nobody in the clip is one of them.

    Known limit (README, "Strangers stay strangers"): at balanced, Lin-Manuel Miranda is announced as
    person13 here, and with alex_lacamoire's studio portrait enrolled even strict announces him as
    alex_lacamoire; the plain baseline at its old 0.50 does both.
    """
    people = load_dataset(data / "people")
    gallery = {n: _first_face(video_pipeline, p[0]) for n, p in people.items() if n != "alex_lacamoire"}
    names, named = _events(clip_faces, gallery, video_pipeline.matcher.center, "strict")
    print(f"strict: {named} faces named, events {names}")
    assert names == []


#: Who is where in the two-person scenes, left to right (the third face in obama_and_biden is a bystander).
SCENES = {"obama_and_biden.jpg": ["biden", "obama", None], "two_people.jpg": ["obama", "biden"]}


@pytest.mark.parametrize("level", list(STRICTNESS))
def test_two_person_scenes_name_only_the_enrolled_person(data, still_pipeline, level):
    center = still_pipeline.matcher.center
    people = load_dataset(data / "people")
    for enrolled in ("obama", "biden"):
        # enrolled from a photo other than the ones in the scenes
        gallery = {enrolled: _first_face(still_pipeline, people[enrolled][-1])}
        for scene, truth in SCENES.items():
            faces = sorted(still_pipeline.faces(next(frames(data / "scenes" / scene)).rgb, still=True),
                           key=lambda f: f.box.x)
            assert len(faces) == len(truth)
            per_frame = [(i, [(f.box, f.embedding, f.face_px) for f in faces]) for i in range(10)]
            names, _ = _events(per_frame, gallery, center, level)
            assert set(names) <= {enrolled}
            m = Matcher(threshold_for(level), center=center)
            m.set_gallery(gallery)
            for who, r in zip(truth, m.match(np.stack([f.embedding for f in faces])), strict=True):
                assert r.name in (None, enrolled)
                if who != enrolled:
                    assert r.name is None, f"{scene}: {who} named {r.name} ({r.score:.3f})"


@pytest.mark.parametrize("enrolled", ["lin_manuel_miranda", "people"])
def test_the_daemons_fast_path_at_strict_announces_only_enrolled_people(data, video_pipeline, still_pipeline,
                                                                        enrolled):
    """The daemon's own path (FaceTracker + EventEngine) on the clip at strict.

    With all 17 people of people/ enrolled (one photo each, alex_lacamoire's studio portrait too),
    nobody in the clip is enrolled and nobody is announced.
    """
    from edged.track import FaceTracker

    if enrolled == "people":
        gallery = {n: _first_face(still_pipeline, p[0]) for n, p in load_dataset(data / "people").items()}
        expected = []
    else:
        gallery = {enrolled: _first_face(still_pipeline, data / "video/enroll/lin_manuel_miranda_1.png")}
        expected = [enrolled]
    m = Matcher(threshold_for("strict"), center=video_pipeline.matcher.center)
    m.set_gallery(gallery)
    p = video_pipeline
    tracker = FaceTracker(p.detector, p.aligner, p.embedder, m)
    now = [0.0]
    engine = EventEngine("test", clock=lambda: now[0])
    names = []
    for f in frames(str(data / "video/short_hamilton_clip.mp4")):
        now[0] = f.index / 30
        recs = [t.recognition for t in tracker.process(f.rgb)]
        names += [e.name for e in engine.feed(f.index, recs) if e.name is not None]
    print(f"{enrolled}: events {names}")
    assert names == expected
