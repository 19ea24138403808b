import os
import stat

import numpy as np
import pytest

from edged.errors import InputError
from edged.gallery import Gallery

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


def test_new_samples_under_a_new_model_replace_the_old(tmp_path):
    Gallery(tmp_path, SHA).add("alice", emb(3), None, [])
    g = Gallery(tmp_path, "b" * 64)
    g.add("alice", emb(1), None, [])
    assert g.people["alice"].count == 1 and g.stale() == []
