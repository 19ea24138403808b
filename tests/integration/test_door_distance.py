"""Faces at door distance keep the stranger promise: 20 held-out people enrolled from full-size photos, probed
with photos shrunk so the face is about 45 px, through the photo path ``frd recognize IMAGE`` runs (its
default size floor included). The full measurement and its sweep: docs/measurements/accuracy.md, "Faces at
door distance" (benchmarks/distance.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edged.tools.calibrate import SHOTS, TEST_FOLDS
from edged.tools.datasets import Lfw
from edged.tools.distance import shrink, wilson
from edged.vision.images import load_image
from edged.vision.pipeline import subject

#: The fixed sample: held-out people (LFW folds 4-5) drawn with this seed.
SEED = 45
ENROLLED = 20
#: Each enrolled person's photos after the enrolled ones probed, at most.
GENUINE_EACH = 3
#: Stranger photos: the first photo of this many other held-out people.
STRANGERS = 400
FACE_PX = 45
#: Measured on this sample (benchmarks' caches, the same path): 4 of 400 strangers named at balanced, 52 of 54
#: family photos named, none wrong. The bounds: a true rate of 1 % names at most 8 of 400 with 98 % probability.
MAX_STRANGERS_NAMED = 8
MIN_FAMILY_NAMED = 0.9


def _sample(lfw: Lfw) -> tuple[dict[str, list], list]:
    photos = lfw.photos_in(TEST_FOLDS)
    rng = np.random.default_rng(SEED)
    big = sorted(p for p, v in photos.items() if len(v) > SHOTS)
    enrolled = sorted(rng.choice(big, ENROLLED, replace=False))
    others = sorted(p for p in photos if p not in set(enrolled))
    strangers = sorted(rng.choice(others, STRANGERS, replace=False))
    return {p: photos[p] for p in enrolled}, [photos[p][0] for p in strangers]


def _subject_at(pipeline, path, face_px: int):
    """The photo shrunk so its subject's face is ``face_px``, recognised as ``frd recognize IMAGE`` does; the
    subject's recognition (None: no face found in the shrunk photo)."""
    rgb = load_image(path)
    boxes, _ = pipeline.detect(rgb, still=True)
    if not boxes:
        return None
    box = subject(boxes, rgb.shape[1], rgb.shape[0])
    small = shrink(rgb, min(box.w, box.h), face_px)
    recs = pipeline.recognize(small)
    if not recs:
        return None
    pick = subject([r.box for r in recs], small.shape[1], small.shape[0])
    return next(r for r in recs if r.box == pick)


@pytest.fixture(scope="module")
def door(data, still_pipeline):
    lfw = Lfw.load(data / "lfw")
    family, strangers = _sample(lfw)
    gallery = {}
    for name, photos in family.items():  # enrolled from full-size photos, as from a phone
        faces = [still_pipeline.subject_face(load_image(p))[0] for p in photos[:SHOTS]]
        gallery[name] = np.stack([f.embedding for f in faces if f is not None])
    still_pipeline.matcher.set_gallery(gallery)
    try:
        genuine = [(name, _subject_at(still_pipeline, p, FACE_PX))
                   for name, photos in family.items() for p in photos[SHOTS:SHOTS + GENUINE_EACH]]
        stranger = [_subject_at(still_pipeline, p, FACE_PX) for p in strangers]
    finally:
        still_pipeline.matcher.set_gallery({})
    return genuine, stranger


def test_faces_of_45_px_are_found_at_that_size_and_above_the_floor(door):
    genuine, stranger = door
    sizes = [r.face_px for _, r in genuine if r is not None] + [r.face_px for r in stranger if r is not None]
    assert len(sizes) >= 0.97 * (len(genuine) + len(stranger))
    assert 43 <= np.median(sizes) <= 47


def test_strangers_at_door_distance_are_named_within_the_promise(door):
    """balanced promises <= 1 % of strangers named; on this sample of 400 the count must stay where a true 1 %
    leaves it (and its Wilson 95 % interval must still reach down to 1 %)."""
    _, stranger = door
    named = sum(r is not None and r.name is not None for r in stranger)
    print(f"{named} of {len(stranger)} strangers named at {FACE_PX} px")
    assert wilson(named, len(stranger))[0] <= 0.01
    assert named <= MAX_STRANGERS_NAMED


def test_the_family_at_door_distance_is_named_and_never_as_someone_else(door):
    genuine, _ = door
    right = sum(r is not None and r.name == name for name, r in genuine)
    wrong = sum(r is not None and r.name is not None and r.name != name for name, r in genuine)
    print(f"{right} of {len(genuine)} family photos named, {wrong} as someone else, at {FACE_PX} px")
    assert right >= MIN_FAMILY_NAMED * len(genuine)
    assert wrong == 0
