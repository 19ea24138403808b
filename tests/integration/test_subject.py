"""Which face of a photo is enrolled (or embedded, or ignored): the face the photo is *of*.

The largest face, unless a smaller one sits much nearer the middle (FaceNet's own rule for cutting its
faces): a bystander's larger face at the edge of an enrollment photo must not be enrolled under the name.
"""

from __future__ import annotations

from edged.vision.images import load_image


def test_in_a_real_photo_the_subject_is_enrolled_not_the_larger_colleague_beside_her(data, still_pipeline):
    """LFW's Christine_Todd_Whitman_0005: a man's larger face at the right edge, hers left of the middle."""
    lfw = data / "lfw" / "Christine_Todd_Whitman"
    photo = load_image(lfw / "Christine_Todd_Whitman_0005.jpg")
    every = still_pipeline.faces(photo, still=True)
    assert len(every) == 2 and every[0].box.area > every[1].box.area  # the largest first: the colleague
    [chosen] = still_pipeline.faces(photo, subject_only=True, still=True)
    assert chosen.box == every[1].box
    # and it is her: closer to another photo of her than the colleague's face is
    [other] = still_pipeline.faces(load_image(lfw / "Christine_Todd_Whitman_0006.jpg"), subject_only=True,
                                   still=True)
    assert float(chosen.embedding @ other.embedding) > 0.5 > float(every[0].embedding @ other.embedding)


def test_enrolling_a_photo_of_several_faces_says_which_one_was_taken(frd, data, tmp_path):
    photo = data / "lfw" / "Christine_Todd_Whitman" / "Christine_Todd_Whitman_0005.jpg"
    r = frd("enroll", "christine", photo, "--gallery", tmp_path / "g")
    assert r.code == 0 and r.json()["added"] == 1, r.err
    [note] = [w for w in r.json()["warnings"] if "faces in the image" in w["warning"]]
    assert note["image"] == str(photo)
    assert note["warning"].startswith("2 faces in the image; took the one it is of")
    x = int(note["warning"].split("x=")[1].split(",")[0])
    assert x < 125 - 40  # her face, left of the middle of the 250 px photo (the colleague's is at the right)
    assert "If that is not christine, remove the sample" in note["warning"]
    one = frd("enroll", "obama", data / "people/obama/obama_1.jpg", "--gallery", tmp_path / "g")
    assert not [w for w in one.json()["warnings"] if "faces in the image" in w["warning"]]
