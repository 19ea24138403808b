"""Which face of a photo is enrolled (or embedded, or ignored): the face the photo is *of*.

The largest face, unless a smaller one sits much nearer the middle (FaceNet's own rule for cutting its
faces): a bystander's larger face at the edge of an enrollment photo must not be enrolled under the name.
"""

from __future__ import annotations

from edged.core.models import Box
from edged.vision.pipeline import subject


def test_the_largest_face_is_the_subject_when_it_is_near_the_middle():
    big, small = Box(100, 60, 100, 120), Box(10, 10, 40, 48)
    assert subject([big, small], 300, 250) is big


def test_a_centred_face_wins_over_a_larger_one_at_the_edge():
    edge, centre = Box(190, 60, 90, 110), Box(95, 80, 80, 96)
    assert subject([edge, centre], 300, 250) is centre
    # ...but not a small background face in the middle against a close-up beside it
    closeup, background = Box(0, 20, 160, 200), Box(140, 110, 24, 28)
    assert subject([closeup, background], 300, 250) is closeup


def test_a_tie_goes_to_the_first_the_detector_gave():
    a, b = Box(50, 50, 60, 60), Box(190, 140, 60, 60)  # mirror images about the middle of 300×250
    assert subject([a, b], 300, 250) is a and subject([b, a], 300, 250) is b
