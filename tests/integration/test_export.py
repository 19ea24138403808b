"""Gallery backup and restore (``frd gallery export FILE`` / ``import FILE``): the real model, real photos.

Export → delete everyone → import must give back the same recognitions; a backup that cannot be
restored whole (someone already enrolled, another model's embeddings without chips, a damaged file)
is refused and changes nothing.
"""

from __future__ import annotations

import json
import stat
import zipfile

import numpy as np
import pytest

from edged.core.errors import InputError
from edged.daemon.app import open_people, shipped_space
from edged.store.backup import BACKUP_MANIFEST, export_backup, read_backup
from edged.store.gallery import decode_person, encode_person
from edged.store.space import chip_of, embedding_space
from edged.vision.images import load_image


@pytest.fixture
def people(tmp_path, still_pipeline, data):
    """obama (2 photos) and biden (1) enrolled with chips; the session's matcher is emptied afterwards."""
    svc = open_people(tmp_path / "gallery", still_pipeline, keep_crops=True)
    photos = data / "people"
    for name, files in (("obama", ["obama/obama_1.jpg", "obama/obama_2.jpg"]), ("biden", ["biden/biden_1.jpg"])):
        result = svc.enroll(name, [(f, load_image(photos / f)) for f in files])
        assert result.added == len(files), result
    yield svc
    still_pipeline.matcher.set_gallery({})


def recognitions(svc, data) -> list[tuple[str | None, float]]:
    out = []
    for f in ("obama/obama_3.jpg", "biden/biden_2.jpg", "alex_lacamoire/alex_lacamoire_1.jpg"):
        [r] = svc.pipeline.recognize(load_image(data / "people" / f))
        out.append((r.name, round(r.score, 5)))
    return out


def test_export_delete_everyone_import_gives_the_same_recognitions(people, data, tmp_path):
    before = recognitions(people, data)
    assert [n for n, _ in before] == ["obama", "biden", None], before
    backup = tmp_path / "out" / "frd-backup.zip"
    backup.parent.mkdir()
    summary = export_backup(people.gallery, backup)
    assert summary["people"] == ["biden", "obama"] and summary["model_sha256"] == people.gallery.model_sha256
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600  # biometric data
    with zipfile.ZipFile(backup) as z:
        assert sorted(z.namelist()) == [BACKUP_MANIFEST, "people/biden.npz", "people/obama.npz"]
        manifest = json.loads(z.read(BACKUP_MANIFEST))
    assert manifest["model_sha256"] == people.gallery.model_sha256
    assert [(p["name"], p["samples"], p["crops"]) for p in manifest["people"]] == [("biden", 1, True),
                                                                                   ("obama", 2, True)]
    for name in ("obama", "biden"):
        people.delete(name)
    assert [n for n, _ in recognitions(people, data)] == [None, None, None]
    heard = []
    people.subscribe(lambda change: heard.append((change.kind, change.name)))
    result = people.restore(read_backup(backup))
    assert result == {"imported": ["biden", "obama"], "reembedded": []}
    assert heard == [("added", "biden"), ("added", "obama")]  # Home Assistant, fleet sync and the daemon follow
    assert recognitions(people, data) == before
    files = sorted((tmp_path / "gallery").glob("*.npz"))
    assert [f.name for f in files] == ["biden.npz", "obama.npz"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)


def test_a_person_already_enrolled_is_refused_and_nothing_is_imported(people, tmp_path):
    backup = tmp_path / "b.zip"
    export_backup(people.gallery, backup)
    people.delete("biden")
    disk = {f.name: f.stat().st_mtime_ns for f in (tmp_path / "gallery").glob("*.npz")}
    with pytest.raises(InputError, match=r"already enrolled: obama .*nothing was imported"):
        people.restore(read_backup(backup))
    assert people.names() == ["obama"]  # biden was not imported either: all or nothing
    assert {f.name: f.stat().st_mtime_ns for f in (tmp_path / "gallery").glob("*.npz")} == disk


def _rewrite(src, dst, change) -> None:
    """A copy of backup ``src`` with every person passed through ``change``."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for name in z.namelist():
            body = z.read(name)
            if name.endswith(".npz"):
                body = encode_person(change(decode_person(name.rsplit("/", 1)[-1][:-4], body)))
            out.writestr(name, body)


def test_another_models_embeddings_are_embedded_again_from_chips_or_refused_without(people, data, tmp_path):
    before = recognitions(people, data)
    backup = tmp_path / "b.zip"
    export_backup(people.gallery, backup)
    for name in ("obama", "biden"):
        people.delete(name)

    today = chip_of(people.gallery.model_sha256)

    def other_model(p):
        p.model_sha256 = embedding_space("f" * 64, today)  # another model, chips cut as today's
        p.embeddings = np.ones_like(p.embeddings)  # whatever another model made: useless here
        return p

    def earlier_chip(p):
        p = other_model(p)
        p.model_sha256 = "f" * 64  # a backup from before frd recorded the cut: its chips are dlib's landmark chips
        return p

    def no_chips(p):
        p = other_model(p)
        p.crops = None
        return p

    bare = tmp_path / "bare.zip"
    _rewrite(backup, bare, no_chips)
    with pytest.raises(InputError, match=r"another model or chip cut \(model ffffffffffff.*no chips of today's cut"
                                         r".*nothing was imported"):
        people.restore(read_backup(bare))
    assert people.names() == []
    old_cut = tmp_path / "old_cut.zip"
    _rewrite(backup, old_cut, earlier_chip)
    with pytest.raises(InputError, match=r"chip dlib-0\.35-160; this frd: .*chip landmarkbox-.*nothing was imported "
                                         r"\(enroll them again from photos\)"):
        people.restore(read_backup(old_cut))  # chips of another cut would embed into neither space
    assert people.names() == []
    moved = tmp_path / "moved.zip"
    _rewrite(backup, moved, other_model)
    result = people.restore(read_backup(moved))
    assert result["reembedded"] == ["biden", "obama"]
    assert all(p.model_sha256 == people.gallery.model_sha256 for p in people.gallery.people.values())
    assert recognitions(people, data) == before


def test_cli_export_and_import_a_backup(frd, data, tmp_path):
    src, dst, backup = tmp_path / "src", tmp_path / "dst", tmp_path / "backup.zip"
    assert frd("enroll", "obama", data / "people/obama/obama_1.jpg", "--gallery", src).code == 0
    empty = frd("gallery", "export", backup, "--gallery", dst)
    assert empty.code == 1 and "is empty: nothing to export" in empty.err and not backup.exists()
    out = frd("gallery", "export", backup, "--gallery", src)
    assert out.code == 0, out.err
    assert out.json()["people"] == ["obama"] and stat.S_IMODE(backup.stat().st_mode) == 0o600
    got = frd("gallery", "import", backup, "--gallery", dst)
    assert got.code == 0 and got.json() == {"imported": ["obama"], "reembedded": [], "gallery": str(dst)}, got.err
    listed = frd("gallery", "list", "--gallery", dst).json()
    assert [(p["name"], p["embeddings"], p["crops"]) for p in listed["people"]] == [("obama", 1, 1)]
    again = frd("gallery", "import", backup, "--gallery", dst)
    assert again.code == 1 and "already enrolled: obama" in again.err
    legacy = frd("gallery", "import", tmp_path / "nothing-here", "--gallery", dst)
    assert legacy.code != 0 and "not a folder" in legacy.err


def test_the_ignore_list_travels_with_the_backup_and_a_running_daemon_follows_it(frd, data, tmp_path):
    from edged.store.ignore import IGNORE_FILE, IgnoreList

    src, dst, backup = tmp_path / "src", tmp_path / "dst", tmp_path / "backup.zip"
    assert frd("enroll", "obama", data / "people/obama/obama_1.jpg", "--gallery", src).code == 0
    ignore_id = IgnoreList(src / IGNORE_FILE, shipped_space()).add("hall", np.ones((2, 512), np.float32))
    assert frd("gallery", "export", backup, "--gallery", src).code == 0
    dst.mkdir(mode=0o700)
    daemons = IgnoreList(dst / IGNORE_FILE, shipped_space())  # what a running daemon holds
    heard = []
    daemons.on_change(lambda: heard.append(True))
    assert daemons.reload_if_changed() is False
    got = frd("gallery", "import", backup, "--gallery", dst)
    assert got.code == 0 and got.json()["ignored"] == [ignore_id], got.err
    assert stat.S_IMODE((dst / IGNORE_FILE).stat().st_mode) == 0o600
    assert daemons.reload_if_changed() is True and heard == [True]  # the daemon's poll picks it up
    assert [e["ignore_id"] for e in daemons.listing()["ignored"]] == [ignore_id]


def test_another_models_ignore_list_is_not_imported(frd, data, tmp_path):
    from edged.store.ignore import IGNORE_FILE, IgnoreList

    src, dst, backup, moved = tmp_path / "src", tmp_path / "dst", tmp_path / "b.zip", tmp_path / "moved.zip"
    assert frd("enroll", "obama", data / "people/obama/obama_1.jpg", "--gallery", src).code == 0
    IgnoreList(src / IGNORE_FILE, shipped_space()).add("hall", np.ones((1, 512), np.float32))
    assert frd("gallery", "export", backup, "--gallery", src).code == 0
    with zipfile.ZipFile(backup) as z, zipfile.ZipFile(moved, "w") as out:
        for name in z.namelist():
            body = z.read(name)
            if name == BACKUP_MANIFEST:
                body = json.dumps({**json.loads(body), "model_sha256": "f" * 64}).encode()
            out.writestr(name, body)
    got = frd("gallery", "import", moved, "--gallery", dst)
    assert got.code == 0 and "another model (ffffffffffff)" in got.json()["ignored_skipped"], got.err
    assert not (dst / IGNORE_FILE).exists()


def test_ignored_faces_of_another_embedding_space_stay_behind_on_import(frd, data, tmp_path):
    from edged.store.ignore import IGNORE_FILE, UNRECORDED_SPACE, Ignored, IgnoreList, encode

    src, dst, backup = tmp_path / "src", tmp_path / "dst", tmp_path / "b.zip"
    assert frd("enroll", "obama", data / "people/obama/obama_1.jpg", "--gallery", src).code == 0
    today = IgnoreList(src / IGNORE_FILE, shipped_space()).add("hall", np.ones((1, 512), np.float32))
    entries = IgnoreList(src / IGNORE_FILE, shipped_space())._entries
    older = Ignored("0123456789ab", "door", 1.0, np.ones((1, 512), np.float32), UNRECORDED_SPACE)  # pre-upgrade
    (src / IGNORE_FILE).write_bytes(encode({**entries, older.ignore_id: older}))
    listed = frd("gallery", "ignore", "list", "--gallery", src).json()["ignored"]
    assert sorted((e["ignore_id"], e["stale"]) for e in listed) == sorted([(today, False), (older.ignore_id, True)])
    assert frd("gallery", "export", backup, "--gallery", src).code == 0
    got = frd("gallery", "import", backup, "--gallery", dst)
    assert got.code == 0 and got.json()["ignored"] == [today], got.err
    assert got.json()["ignored_skipped"].startswith("1 ignored faces were made in another embedding space")
