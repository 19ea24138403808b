"""Privacy: ``delete`` leaves no trace of a person, and biometric files are for frd's user only.

The daemon test is end to end: frd run with fleet sync and Home Assistant
discovery on a real mosquitto, a person recognised on the clip (so retained
camera state names him), a quarantined damaged copy of his entry, a signed
delete; afterwards a fresh subscriber to ``#`` reads every retained message
on the broker and every file under the gallery folder is read byte by byte.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from edged.core.errors import InputError
from edged.store.gallery import Gallery

SHA = "a" * 64


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root.parent)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_remove_purges_quarantined_copies_and_unfinished_writes(tmp_path):
    g = Gallery(tmp_path, SHA)
    emb = np.ones((1, 8), np.float32)
    g.add("alice", emb, np.zeros((1, 160, 160, 3), np.uint8), ["a.jpg"])
    g.add("alicia", emb, None, ["b.jpg"])
    (tmp_path / "quarantine").mkdir(mode=0o700)
    (tmp_path / "quarantine" / "alice.npz.1700000000").write_bytes(b"old alice")
    (tmp_path / "quarantine" / "alicia.npz.1700000000").write_bytes(b"old alicia")
    (tmp_path / ".alice.npz.x1y2z3.tmp").write_bytes(b"a write cut short")
    g.remove("alice")
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [".lock", "alicia.npz", "quarantine/alicia.npz.1700000000"]  # only other people's data


def test_gallery_files_are_private_whatever_the_umask_or_the_previous_mode(tmp_path):
    root = tmp_path / "g"
    root.mkdir(mode=0o755)
    old = os.umask(0)
    try:
        g = Gallery(root, SHA)
        g.add("alice", np.ones((1, 8), np.float32), None, [])
        os.chmod(root / "alice.npz", 0o644)  # e.g. restored from a backup
        (root / "bob.npz").write_bytes(b"not a gallery entry")
        os.chmod(root / "bob.npz", 0o666)
        again = Gallery(root, SHA)
    finally:
        os.umask(old)
    assert again.names() == ["alice"] and len(again.quarantined) == 1
    modes = _modes(root)
    assert {m for p, m in modes.items() if (tmp_path / p).is_dir()} == {0o700}, modes
    assert {m for p, m in modes.items() if (tmp_path / p).is_file()} == {0o600}, modes


@pytest.mark.parametrize("name", ["../alice", "alice/../../x", ".alice", "alice\x00", "ａｌｉｃｅ/.."])
def test_no_name_can_reach_outside_the_gallery_folder(tmp_path, name):
    g = Gallery(tmp_path / "g", SHA)
    with pytest.raises(InputError, match=r"^name .* is not allowed\): use lowercase letters"):
        g.add(name, np.ones((1, 8), np.float32), None, [])
    assert [p.name for p in tmp_path.rglob("*")] == ["g", ".lock"]
