"""Strangers stay strangers: the normalised matcher, the strictness knob that
follows the gallery size, held-out LFW figures at the defaults, and no stranger announced in video."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edged.config import DEFAULT_STRICTNESS, STRICTNESS_LEVELS
from edged.core.errors import ModelError
from edged.core.models import Box, Recognition, iou
from edged.tools.calibrate import (
    COHORT_FOLDS,
    CROWD_SIZES,
    REPORT_SIZES,
    TEST_FOLDS,
    TUNE_FOLDS,
    crowd_strangers,
    embed_people,
    magnets,
    open_set_at,
    verification,
)
from edged.tools.datasets import Lfw, load_dataset
from edged.tools.evaluate import chips_for, open_set
from edged.video.events import EventEngine
from edged.video.track import MIN_IOU, FrameIds
from edged.vision.camera import frames
from edged.vision.embed import Manifest
from edged.vision.match import (
    CALIBRATION_FILE,
    COHORT_FILE,
    CROP_CALIBRATION_FILE,
    CROP_COHORT_FILE,
    Matcher,
    load_calibration,
    threshold_for,
)
from edged.vision.modelfiles import MODEL_MANIFEST, model_dir

# -- the knob ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cal():
    return load_calibration(Manifest.load(model_dir() / MODEL_MANIFEST).sha256)


def test_levels_are_ordered_at_every_gallery_size_and_rise_with_it(cal):
    for n in (1, 2, 5, 20, 50, 100, 500):
        t = [cal.threshold(k, n) for k in STRICTNESS_LEVELS]
        assert t[0] > t[1] > t[2], n
    for k in STRICTNESS_LEVELS:
        assert cal.threshold(k, 1) < cal.threshold(k, 5) < cal.threshold(k, 50) < cal.threshold(k, 100)
    assert [cal.levels[k].target for k in STRICTNESS_LEVELS] == sorted(cal.levels[k].target for k in STRICTNESS_LEVELS)
    assert Matcher(cal).strictness == DEFAULT_STRICTNESS == "balanced"


def test_an_explicit_threshold_overrides_the_strictness(cal):
    assert threshold_for(cal, "strict", 0.3) == 0.3
    assert threshold_for(cal, "lenient", 0.0, people=50) == 0.0
    with pytest.raises(ValueError, match="strict, balanced, lenient"):
        threshold_for(cal, "paranoid")


# -- the shipped calibration ---------------------------------------------------------------


def test_the_shipped_calibration_belongs_to_the_shipped_model(cal):
    assert cal.center.shape == (512,) and cal.cohort.shape[1] == 512 and len(cal.cohort) >= 500
    np.testing.assert_allclose(np.linalg.norm(cal.cohort, axis=1), 1.0, atol=1e-3)
    assert 0.1 < float(np.linalg.norm(cal.center)) < 0.8
    assert "held_out_figures" in cal.info and "verification" in cal.info


@pytest.mark.parametrize("crops", [False, True], ids=["photos", "crops"])
def test_a_calibration_made_for_another_model_or_with_another_cohort_is_refused(tmp_path, cal, crops):
    files = (CROP_CALIBRATION_FILE, CROP_COHORT_FILE) if crops else (CALIBRATION_FILE, COHORT_FILE)
    for f in files:
        shutil.copy(model_dir() / f, tmp_path / f)
    path = tmp_path / files[0]
    good = json.loads(path.read_text())
    assert load_calibration(cal.model_sha256, tmp_path, crops=crops).k == cal.k
    path.write_text(json.dumps({**good, "model_sha256": "0" * 64}))
    with pytest.raises(ModelError, match="rebuild it"):
        load_calibration(cal.model_sha256, tmp_path, crops=crops)
    path.write_text(json.dumps({**good, "cohort_sha256": "0" * 64}))
    with pytest.raises(ModelError, match="sha256 differs"):
        load_calibration(cal.model_sha256, tmp_path, crops=crops)
    path.write_text("{")
    with pytest.raises(ModelError, match="unreadable"):
        load_calibration(cal.model_sha256, tmp_path, crops=crops)


def test_crops_have_a_calibration_of_their_own_made_from_crops_that_keeps_the_promise_on_held_out_crops(cal):
    """Made like the photos' from the same LFW photos cut to crops; its recorded held-out figures (folds 4-5)
    keep every level's promise. aligned112 checks it on crops of another source (test_aligned_crops.py)."""
    crops = load_calibration(cal.model_sha256, crops=True)
    assert "ArcFace crop" in crops.info["source"] and "ArcFace crop" not in cal.info["source"]
    assert crops.cohort.shape == cal.cohort.shape and not np.allclose(crops.center, cal.center, atol=1e-3)
    for level in STRICTNESS_LEVELS:
        for n, r in crops.info["held_out_figures"][level].items():
            if n.isdigit():
                assert r["strangers"] <= crops.levels[level].target, (level, n)
                assert r["wrong"] == 0.0, (level, n)


# -- LFW people nobody tuned on, through the real path ---------------------------------------


@pytest.fixture(scope="module")
def lfw_held_out(data, cal):
    """Held-out LFW people (folds 4-5), each photo through detect + align + int8 embed as the daemon does,
    with the detector the shipped calibration was made with (it records it)."""
    from edged.daemon.app import build_pipeline

    lfw = Lfw.load(data / "lfw")
    pipeline = build_pipeline(still=True, detector=cal.info["detector"])
    assert pipeline.still_detector.name == cal.info["detector"]
    return embed_people(lfw.photos_in(TEST_FOLDS), pipeline), lfw.pairs


def test_the_calibration_records_its_detector_and_embedding_caches_never_mix_detectors_or_chips(data, cal, tmp_path):
    """Detection changes which faces reach the matcher: the calibration says which detector made it, and
    the embeddings cache of one detector (or one chip) is never read for another."""
    from edged.config import DETECTORS
    from edged.daemon.app import build_pipeline
    from edged.tools.calibrate import path_recipe
    from edged.vision.align import Aligner
    from edged.vision.modelfiles import PREDICTOR_FILE

    assert cal.info["detector"] in DETECTORS and cal.info["detector"] in cal.info["source"].lower()
    hog, yunet = (build_pipeline(still=True, calibrated=False, detector=d) for d in ("hog", "yunet"))
    assert path_recipe(hog) != path_recipe(yunet)
    other_chip = Aligner(model_dir() / PREDICTOR_FILE, margin=hog.aligner.margin + 0.1)
    assert path_recipe(hog) != path_recipe(type(hog)(hog.detector, other_chip, hog.embedder, hog.matcher,
                                                     still_detector=hog.still_detector))
    # a cache written on one detector's path is recomputed, not read, on the other's
    lfw = Lfw.load(data / "lfw")
    people = {p: lfw.people[p] for p in sorted(lfw.people)[:3]}
    cache = tmp_path / "emb.npz"
    by_hog = embed_people(people, hog, cache)
    by_yunet = embed_people(people, yunet, cache)
    assert by_hog.found.any() and by_yunet.found.any()
    both = by_hog.found & by_yunet.found
    assert not np.allclose(by_hog.emb[both], by_yunet.emb[both], atol=1e-4)
    again = embed_people(people, yunet, cache)  # now the cache is YuNet's, and read
    assert np.array_equal(again.emb, by_yunet.emb)


def test_lfw_is_read_once_for_calibrate_and_eval_people_split_by_the_pairs_folds(data):
    """The one LFW loader: every person folder with photos, the View-2 pairs in blocks, person-disjoint folds."""
    lfw = Lfw.load(data / "lfw")
    assert len(lfw.people) == 2831 and sum(map(len, lfw.people.values())) == 5541
    assert all(v == sorted(v, key=lambda p: int(p.stem.rsplit("_", 1)[1])) for v in lfw.people.values())
    assert len(lfw.pairs) == 2908 and {f for f, *_ in lfw.pairs} == set(range(5))
    for f, a, na, b, nb in lfw.pairs:  # every pair names photos that exist, within one fold
        assert lfw.folds[a] == lfw.folds[b] == f
        assert len(lfw.people[a]) >= na and len(lfw.people[b]) >= nb
    parts = [lfw.people_in(fs) for fs in (COHORT_FOLDS, TUNE_FOLDS, TEST_FOLDS)]
    assert set().union(*parts) == set(lfw.people) and sum(map(len, parts)) == len(lfw.people)
    assert set(lfw.photos_in(TEST_FOLDS)) == parts[2]


@pytest.mark.parametrize("n", [5, 20, 50])
def test_at_the_defaults_strangers_are_named_at_most_1_percent_and_95_percent_of_the_family_named(
        lfw_held_out, cal, n):
    """Galleries of n held-out people, 5 photos each: the daemon's Matcher at its default strictness."""
    e, _ = lfw_held_out
    r = open_set_at(cal, e, e.by_person(), n, max(8, min(60, 600 // n)), DEFAULT_STRICTNESS)
    print(r)
    assert r["strangers"] <= 0.01
    assert r["named"] >= 0.95
    assert r["wrong"] <= 0.005


def test_strict_keeps_its_promise_with_fifty_people_enrolled(lfw_held_out, cal):
    e, _ = lfw_held_out
    strict = open_set_at(cal, e, e.by_person(), 50, 12, "strict")
    print(strict)
    assert strict["strangers"] <= 0.005 and strict["named"] >= 0.93 and strict["wrong"] <= 0.005


@pytest.mark.parametrize("n", CROWD_SIZES)
def test_every_level_keeps_its_promise_for_households_beyond_the_fit(lfw_held_out, cal, n):
    """The levels' ln n rule was fitted on galleries of at most 50 people with 5 photos each; 100 and 200
    held-out people, enrolled from the photos they have (most have one or two), stay within each promise."""
    e, _ = lfw_held_out
    for level, r in crowd_strangers(cal, e, e.by_person(), n).items():
        print(level, r)
        assert r["stranger_photos"] > 5000
        assert r["strangers"] <= cal.levels[level].target, level


def test_no_enrolled_person_attracts_more_than_3x_the_average_stranger_rate(lfw_held_out, cal):
    """Each held-out person enrolled alone; at lenient, where a person attracts enough strangers to compare."""
    e, _ = lfw_held_out
    r = magnets(cal, e, e.by_person(), "lenient")
    print(r)
    assert r["people"] >= 50 and r["average"] > 0
    assert r["worst_over_average"] <= 3.0


def test_lfw_verification_of_the_int8_path(lfw_held_out):
    e, pairs = lfw_held_out
    v = verification(e, pairs, TEST_FOLDS)
    print(v)
    # 98.3 % on the held-out folds (the earlier dlib chip: 97.6 %); the published 99.05 % is the float model on
    # all ten folds of MTCNN crops, and the float model gives no more than int8 on these folds (models/README.md)
    assert v["accuracy"] >= 0.98 and v["missing_pairs"] == 0


def test_the_shipped_figures_are_what_the_held_out_people_give_today(lfw_held_out, cal):
    """The README quotes cal.info; re-run `python -m edged.tools.calibrate` when detection, alignment or the model
    change."""
    e, _ = lfw_held_out
    shipped = cal.info["held_out_figures"]
    for level in STRICTNESS_LEVELS:
        for n in REPORT_SIZES:
            r = open_set_at(cal, e, e.by_person(), n, max(8, min(60, 600 // n)), level)
            s = shipped[level][str(n)]
            assert r["named"] == pytest.approx(s["named"], abs=0.002), (level, n)
            assert r["strangers"] == pytest.approx(s["strangers"], abs=0.001), (level, n)
    for n in CROWD_SIZES:
        for level, r in crowd_strangers(cal, e, e.by_person(), n).items():
            assert r["strangers"] == pytest.approx(shipped[level]["crowds"][str(n)]["strangers"], abs=0.001)


# -- single images: aligned112 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def aligned_emb(data, still_pipeline):
    chips = chips_for(load_dataset(data / "aligned112"), still_pipeline.aligner)
    return {k: still_pipeline.embedder.embed(v) for k, v in chips.items()}


def test_on_aligned_crops_the_matcher_still_names_most_people(aligned_emb, cal):
    """Reported, never used to choose: the tight 112 px crops of aligned112 through --aligned, with the calibration
    of crops (``frd eval``'s figures).

    At <= 1 % strangers (the threshold chosen on these very probes) frd's matcher names 0.882 there and the plain
    cosine 0.901; with the photos' calibration 0.876 (on the earlier landmark-rotated chip: 0.846 and 0.867).
    """
    crops = load_calibration(cal.model_sha256, crops=True)
    frd, base = open_set(aligned_emb, 5, 3, crops), open_set(aligned_emb, 5, 3, None)
    (t1, _), (b1, _) = frd.tpir_at(0.01), base.tpir_at(0.01)
    print(f"TPIR@FPIR<=1%: frd {t1:.3f} baseline {b1:.3f}")
    assert t1 >= 0.84 and frd.tpir_at(0.05)[0] >= 0.89


# -- video and scenes: no stranger is ever announced ---------------------------------------


@pytest.fixture(scope="module")
def clip_faces(data, video_pipeline):
    """Per frame: the faces frd's video pipeline finds (boxes and embeddings)."""
    out = []
    for f in frames(str(data / "video/short_hamilton_clip.mp4")):
        out.append((f.index, [(x.box, x.embedding, x.face_px) for x in video_pipeline.faces(f.rgb)]))
    return out


def _first_face(pipeline, path):
    return pipeline.faces(next(frames(path)).rgb, subject_only=True, still=True)[0].embedding[None]


def _events(per_frame, gallery, cal, level, out: list | None = None):
    """Recognized/unknown events of the daemon's rules over per-frame faces, with a 30 fps clock (the
    named events themselves are appended to ``out``)."""
    m = Matcher(cal, level)
    m.set_gallery(gallery)
    now = [0.0]
    engine = EventEngine("test", clock=lambda: now[0])
    ids = FrameIds()  # per-frame faces get track ids by the tracker's own association rule
    events, named = [], 0
    for index, faces in per_frame:
        now[0] = index / 30
        recs = []
        if faces:
            for (box, _, px), r in zip(faces, m.match(np.stack([e for _, e, _ in faces])), strict=True):
                recs.append(Recognition(box, r.name, r.score, r.best, px))
                named += r.name is not None
        events += engine.feed(index, ids(recs))
    if out is not None:
        out += [e for e in events if e.name is not None]
    return [e.name for e in events if e.name is not None], named


#: Barack Obama is in the clip's audience (the 2009 White House performance), in three-quarter profile from
#: frame 205 to the end, his face inside this part of the frame. people/ holds his photos: with them
#: enrolled, naming him there is right (the chip cut as FaceNet was trained does; the earlier
#: chip did not), and anywhere else it is a stranger named.
OBAMA_IN_CLIP = (205, Box(255, 25, 160, 140))


def _obama_only_on_obama(events) -> None:
    """Every ``obama`` event is on Barack Obama's face in the audience (:data:`OBAMA_IN_CLIP`)."""
    first, region = OBAMA_IN_CLIP
    for e in events:
        if e.name == "obama":
            x, y, w, h = e.box
            assert e.frame >= first - 3 and region.x <= x + w / 2 <= region.x + region.w \
                and region.y <= y + h / 2 <= region.y + region.h, (e.name, e.frame, e.box)


def _not_on_lin(events, lin_boxes: dict[int, list[Box]]) -> None:
    """No event is on a face that is Lin's: a face named Lin (with only Lin enrolled) within half a second
    of the event does not overlap the event's face."""
    assert sum(map(len, lin_boxes.values())) >= 100  # Lin's faces are known
    for e in events:
        box = Box(*e.box)
        near = [b for f in range(e.frame - 15, e.frame + 16) for b in lin_boxes.get(f, [])]
        assert all(iou(box, b) < MIN_IOU for b in near), (e.name, e.frame, e.box)


@pytest.mark.parametrize("level", STRICTNESS_LEVELS)
def test_the_clip_announces_lin_manuel_miranda_and_no_one_else(data, clip_faces, video_pipeline, level):
    """Enroll only Lin-Manuel Miranda: he is announced, the blurred face in the audience never is."""
    lin = _first_face(video_pipeline, data / "video/enroll/lin_manuel_miranda_1.png")
    names, named = _events(clip_faces, {"lin_manuel_miranda": lin}, video_pipeline.matcher.calibration, level)
    print(f"{level}: {named} faces named, events {names}")
    assert names == ["lin_manuel_miranda"]
    assert named >= 100


@pytest.mark.parametrize("level", ["strict"])
def test_lin_manuel_miranda_is_not_announced_as_alex_lacamoire(data, clip_faces, video_pipeline, level):
    """Enroll only Alex Lacamoire (the clip's music director, from a studio portrait): Lin is never
    announced as him. Alex himself is in the clip, in profile at the piano (frames 25-43): YuNet finds
    that face, HOG did not, and announcing him there is right; an event on one of Lin's faces is not.

    Over per-frame recognitions (what `frd recognize` prints) only at strict: at balanced Lin's
    look-alike frames reach a 3-of-5 window; the daemon's own path (track verdicts, below) holds at both.
    """
    cal = video_pipeline.matcher.calibration
    alex = _first_face(video_pipeline, data / "video/enroll/alex_lacamoire_1.png")
    lin = _first_face(video_pipeline, data / "video/enroll/lin_manuel_miranda_1.png")
    events: list = []
    names, named = _events(clip_faces, {"alex_lacamoire": alex}, cal, level, events)
    print(f"{level}: {named} faces named, events {[(e.name, e.frame, e.box) for e in events]}")
    assert set(names) <= {"alex_lacamoire"} and len(names) <= 1
    m = Matcher(cal, level)
    m.set_gallery({"lin_manuel_miranda": lin})
    lin_boxes = {i: [b for (b, _, _), r in zip(faces, m.match(np.stack([e for _, e, _ in faces])), strict=True)
                     if r.name] for i, faces in clip_faces if faces}
    _not_on_lin(events, lin_boxes)


def test_strict_announces_no_stranger_against_a_gallery_of_sixteen(data, clip_faces, video_pipeline):
    """16 people of people/ enrolled from one photo each; nobody in the clip is one of them but Barack Obama,
    in the audience (:data:`OBAMA_IN_CLIP`), who may be named there and nowhere else.

    Known limit (README, "Strangers stay strangers"): at balanced, Lin-Manuel Miranda is announced as
    person13 here, and with alex_lacamoire's studio portrait enrolled even strict announces him as
    alex_lacamoire; the plain baseline at its old 0.50 does both.
    """
    people = load_dataset(data / "people")
    gallery = {n: _first_face(video_pipeline, p[0]) for n, p in people.items() if n != "alex_lacamoire"}
    events: list = []
    names, named = _events(clip_faces, gallery, video_pipeline.matcher.calibration, "strict", events)
    print(f"strict: {named} faces named, events {[(e.name, e.frame, e.box) for e in events]}")
    assert set(names) <= {"obama"}
    _obama_only_on_obama(events)


#: Who is where in the two-person scenes, left to right (the third face in obama_and_biden is a bystander).
SCENES = {"obama_and_biden.jpg": ["biden", "obama", None], "two_people.jpg": ["obama", "biden"]}


@pytest.mark.parametrize("level", STRICTNESS_LEVELS)
def test_two_person_scenes_name_only_the_enrolled_person(data, still_pipeline, level):
    cal = still_pipeline.matcher.calibration
    people = load_dataset(data / "people")
    for enrolled in ("obama", "biden"):
        # enrolled from a photo other than the ones in the scenes
        gallery = {enrolled: _first_face(still_pipeline, people[enrolled][-1])}
        for scene, truth in SCENES.items():
            faces = sorted(still_pipeline.faces(next(frames(data / "scenes" / scene)).rgb, still=True),
                           key=lambda f: f.box.x)
            assert len(faces) == len(truth)
            per_frame = [(i, [(f.box, f.embedding, f.face_px) for f in faces]) for i in range(10)]
            names, _ = _events(per_frame, gallery, cal, level)
            assert set(names) <= {enrolled}
            m = Matcher(cal, level)
            m.set_gallery(gallery)
            for who, r in zip(truth, m.match(np.stack([f.embedding for f in faces])), strict=True):
                assert r.name in (None, enrolled)
                if who != enrolled:
                    assert r.name is None, f"{scene}: {who} named {r.name} ({r.score:.3f})"


def _daemon_events(data, video_pipeline, gallery, level, out: list | None = None,
                   named: dict[int, list[Box]] | None = None):
    """Announcements of the daemon's own path (FaceTracker verdicts + EventEngine) on the clip (the events
    themselves appended to ``out``; each frame's boxes with a name put in ``named``)."""
    from edged.video.track import FaceTracker

    m = Matcher(video_pipeline.matcher.calibration, level)
    m.set_gallery(gallery)
    p = video_pipeline
    tracker = FaceTracker(p.detector, p.aligner, p.embedder, m)
    now = [0.0]
    engine = EventEngine("test", clock=lambda: now[0])
    names = []
    for f in frames(str(data / "video/short_hamilton_clip.mp4")):
        now[0] = f.index / 30
        recs = [t.recognition for t in tracker.process(f.rgb)]
        events = [e for e in engine.feed(f.index, recs) if e.name is not None]
        names += [e.name for e in events]
        if out is not None:
            out += events
        if named is not None:
            named[f.index] = [r.box for r in recs if r.name]
    return names


@pytest.mark.parametrize("level", ["strict", "balanced"])
@pytest.mark.parametrize("enrolled", ["lin_manuel_miranda", "alex_lacamoire", "people"])
def test_the_daemons_fast_path_announces_only_enrolled_people(data, video_pipeline, still_pipeline, enrolled,
                                                              level):
    """The daemon's own path on the clip, at strict and at the default.

    Only Lin-Manuel Miranda enrolled: he is announced. Only Alex Lacamoire (the clip's music director,
    a studio portrait Lin resembles): at most Alex himself, in profile at the piano, never on one of Lin's
    faces. All 17 people of people/ (one photo each, alex's portrait too): nobody announced but Alex and
    Barack Obama, in the audience (:data:`OBAMA_IN_CLIP`), each on his own face.
    """
    if enrolled == "people":
        gallery = {n: _first_face(still_pipeline, p[0]) for n, p in load_dataset(data / "people").items()}
    else:
        gallery = {enrolled: _first_face(still_pipeline, data / f"video/enroll/{enrolled}_1.png")}
    events: list = []
    names = _daemon_events(data, video_pipeline, gallery, level, events)
    print(f"{enrolled} at {level}: events {[(e.name, e.frame, e.box) for e in events]}")
    if enrolled == "lin_manuel_miranda":
        assert names == ["lin_manuel_miranda"]
        return
    assert set(names) <= {"alex_lacamoire", "obama"} and names.count("alex_lacamoire") <= 1
    _obama_only_on_obama(events)
    lin_boxes: dict[int, list[Box]] = {}
    lin = {"lin_manuel_miranda": _first_face(still_pipeline, data / "video/enroll/lin_manuel_miranda_1.png")}
    assert _daemon_events(data, video_pipeline, lin, level, named=lin_boxes) == ["lin_manuel_miranda"]
    _not_on_lin(events, lin_boxes)


@pytest.mark.parametrize("with_lin", [False, True])
def test_the_daemons_path_announces_nobody_of_the_clip_against_fifty_held_out_people(
        data, lfw_held_out, video_pipeline, still_pipeline, with_lin):
    """A gallery of 50 LFW people (5 photos each) nobody tuned on: the people of the clip are strangers.

    With Lin-Manuel Miranda enrolled too (one photo), he is announced and nobody else; his faces are
    still named at least 100 times, although the threshold for 51 people is far above the one for 1.
    """
    from edged.video.track import FaceTracker

    e, _ = lfw_held_out
    split = e.by_person()
    big = sorted(p for p, v in split.items() if len(v) > 5)[:50]
    gallery = {p: e.emb[split[p][:5]] for p in big}
    if with_lin:
        gallery["lin_manuel_miranda"] = _first_face(still_pipeline, data / "video/enroll/lin_manuel_miranda_1.png")
    m = Matcher(video_pipeline.matcher.calibration)  # the defaults
    m.set_gallery(gallery)
    p = video_pipeline
    tracker = FaceTracker(p.detector, p.aligner, p.embedder, m)
    now = [0.0]
    engine = EventEngine("test", clock=lambda: now[0])
    names, named = [], 0
    for f in frames(str(data / "video/short_hamilton_clip.mp4")):
        now[0] = f.index / 30
        recs = [t.recognition for t in tracker.process(f.rgb)]
        named += sum(r.name == "lin_manuel_miranda" for r in recs)
        names += [e.name for e in engine.feed(f.index, recs) if e.name is not None]
    print(f"threshold {m.threshold:.3f}, events {names}, lin named in {named} faces")
    assert names == (["lin_manuel_miranda"] if with_lin else [])
    if with_lin:
        assert named >= 100
