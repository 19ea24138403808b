import os
import stat

import numpy as np
import pytest

from edged.core.errors import InputError
from edged.store.gallery import Gallery

SHA = "a" * 64


def emb(n, d=8, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def chips(n):
    return np.zeros((n, 160, 160, 3), np.uint8)


def test_people_persist_across_reload(tmp_path):
    g = Gallery(tmp_path / "g", SHA)
    g.add("alice", emb(2), chips(2), ["a1.jpg", "a2.jpg"])
    g.add("alice", emb(1, seed=1), chips(1), ["a3.jpg"])
    g.add("bob", emb(1, seed=2), None, ["b.jpg"])
    again = Gallery(tmp_path / "g", SHA)
    assert again.names() == ["alice", "bob"]
    assert again.people["alice"].count == 3
    assert again.people["alice"].crops.shape == (3, 160, 160, 3)
    assert again.people["alice"].sources == ["a1.jpg", "a2.jpg", "a3.jpg"]
    assert again.people["bob"].crops is None
    np.testing.assert_allclose(again.people["bob"].embeddings, emb(1, seed=2))


def test_folder_is_0700_and_files_0600(tmp_path):
    root = tmp_path / "g"
    g = Gallery(root, SHA)
    g.add("alice", emb(1), chips(1), ["a.jpg"])
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    files = [p for p in root.iterdir() if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)


def test_remove_and_rename(tmp_path):
    g = Gallery(tmp_path, SHA)
    g.add("alice", emb(1), None, [])
    g.add("bob", emb(1), None, [])
    g.rename("alice", "carol")
    g.remove("bob")
    assert Gallery(tmp_path, SHA).names() == ["carol"]
    g.add("dave", emb(1), None, [])
    with pytest.raises(InputError, match="already enrolled"):
        g.rename("dave", "carol")
    with pytest.raises(InputError, match="no person"):
        g.remove("bob")
    assert Gallery(tmp_path, SHA).names() == ["carol", "dave"]


def test_bad_name_changes_nothing(tmp_path):
    g = Gallery(tmp_path, SHA)
    g.add("alice", emb(1), None, [])
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(InputError):
        g.add("../../etc/x", emb(1), None, [])
    assert sorted(os.listdir(tmp_path)) == before


def test_corrupt_entry_is_quarantined_not_fatal(tmp_path):
    g = Gallery(tmp_path, SHA)
    g.add("alice", emb(1), None, [])
    g.add("bob", emb(1), None, [])
    (tmp_path / "bob.npz").write_bytes(b"PK\x03\x04 truncated")
    again = Gallery(tmp_path, SHA)
    assert again.names() == ["alice"]
    assert len(again.quarantined) == 1 and "bob.npz" in again.quarantined[0]
    assert list((tmp_path / "quarantine").iterdir())


def test_model_change_makes_people_stale_until_reembedded(tmp_path):
    g = Gallery(tmp_path, SHA)
    g.add("alice", emb(2), chips(2), [])
    g.add("bob", emb(1), None, [])
    other = Gallery(tmp_path, "b" * 64)
    assert other.stale() == ["alice", "bob"] and other.active() == {}
    redone = other.reembed(lambda c: emb(len(c), seed=9))
    assert redone == ["alice"]  # bob kept no chips: must enroll again
    assert list(other.active()) == ["alice"]
    assert Gallery(tmp_path, "b" * 64).people["alice"].model_sha256 == "b" * 64


def test_people_enrolled_on_another_chip_cut_are_stale_and_never_reembedded_from_those_chips(tmp_path):
    """A chip cut another way gives an embedding of neither space: the person must enroll again."""
    from edged.store.space import LEGACY_CHIP, chip_of, embedding_space

    Gallery(tmp_path, SHA).add("alice", emb(2), chips(2), [])  # a gallery from before the cut was recorded
    today = Gallery(tmp_path, embedding_space(SHA, "landmarkbox-0.1-160"))
    assert chip_of(SHA) == LEGACY_CHIP and chip_of(today.model_sha256) == "landmarkbox-0.1-160"
    assert today.stale() == ["alice"] and today.active() == {}
    assert today.reembed(lambda c: emb(len(c), seed=9)) == []
    assert today.stale() == ["alice"] and today.people["alice"].crops is not None  # kept, not rewritten
    moved = Gallery(tmp_path, embedding_space("b" * 64, "landmarkbox-0.1-160"))
    Gallery(tmp_path / "g2", embedding_space(SHA, "landmarkbox-0.1-160")).add("bob", emb(1), chips(1), [])
    moved2 = Gallery(tmp_path / "g2", embedding_space("b" * 64, "landmarkbox-0.1-160"))
    assert moved.reembed(lambda c: emb(len(c), seed=9)) == []  # alice's chips are still of the old cut
    assert moved2.reembed(lambda c: emb(len(c), seed=9)) == ["bob"]  # a model change with chips of today's cut


def test_new_samples_under_a_new_model_replace_the_old(tmp_path):
    Gallery(tmp_path, SHA).add("alice", emb(3), None, [])
    g = Gallery(tmp_path, "b" * 64)
    g.add("alice", emb(1), None, [])
    assert g.people["alice"].count == 1 and g.stale() == []


def test_samples_have_stable_ids_and_a_gallery_without_them_still_loads(tmp_path):
    import io
    import json

    root = tmp_path / "g"
    g = Gallery(root, SHA)
    g.add("alice", emb(2), chips(2), ["a1.jpg", "a2.jpg"])
    ids = g.people["alice"].sample_ids
    assert len(set(ids)) == 2 and all(len(i) == 12 for i in ids)
    g.add("alice", emb(1, seed=1), chips(1), ["a3.jpg"])
    assert Gallery(root, SHA).people["alice"].sample_ids[:2] == ids  # kept on disk, and by a later add
    # a file written before sample ids (meta without them) loads, with ids derived the same way every time
    buf = io.BytesIO()
    np.savez(buf, embeddings=emb(2, seed=3), crops=chips(2),
             meta=np.array(json.dumps({"version": 1, "model_sha256": SHA, "sources": ["o1.jpg", "o2.jpg"],
                                       "updated": 0.0})))
    (root / "old.npz").write_bytes(buf.getvalue())
    first, second = Gallery(root, SHA).people["old"], Gallery(root, SHA).people["old"]
    assert first.sample_ids == second.sample_ids and len(set(first.sample_ids)) == 2
    assert [s["source"] for s in first.samples()] == ["o1.jpg", "o2.jpg"]
    # the same embedding twice still gets two ids
    twice = Gallery(root, SHA)
    twice.people["old"].embeddings[1] = twice.people["old"].embeddings[0]
    from edged.store.gallery import derived_sample_ids

    same = derived_sample_ids(twice.people["old"].embeddings)
    assert len(set(same)) == 2
    # one sample removed: the rest keep their ids; the last one is refused
    g = Gallery(root, SHA)
    left = g.remove_samples("old", [first.sample_ids[0]])
    assert left.sample_ids == first.sample_ids[1:] and left.sources == ["o2.jpg"] and left.crops.shape[0] == 1
    assert stat.S_IMODE(os.stat(root / "old.npz").st_mode) == 0o600
    assert Gallery(root, SHA).people["old"].sample_ids == first.sample_ids[1:]
    with pytest.raises(InputError, match="without any sample: delete old instead"):
        g.remove_samples("old", first.sample_ids[1:])
    with pytest.raises(InputError, match="old has no sample 'ffffffffffff'"):
        g.remove_samples("old", ["f" * 12])
    with pytest.raises(InputError, match="no person named 'nobody'"):
        g.remove_samples("nobody", ["f" * 12])
