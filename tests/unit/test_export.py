"""Gallery backup and restore (``frd gallery export FILE`` / ``import FILE``): the real model, real photos.

Export → delete everyone → import must give back the same recognitions; a backup that cannot be
restored whole (someone already enrolled, another model's embeddings without chips, a damaged file)
is refused and changes nothing.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from edged.core.errors import InputError
from edged.daemon.app import shipped_space
from edged.store.backup import BACKUP_MANIFEST, read_backup


@pytest.mark.parametrize("content, error", [
    (b"", "not an frd gallery backup"),
    (b"PK\x03\x04 not really a zip", "not an frd gallery backup"),
    ("zip:{}", "not an frd gallery backup"),
    ('zip:{"format": "frd-gallery-backup", "version": 9, "people": []}', "version 9 is not supported"),
    ('zip:{"format": "frd-gallery-backup", "version": 1, "people": [{"name": "../x"}]}', "../x"),
    ('zip:{"format": "frd-gallery-backup", "version": 1, "people": [{"name": "ann"}]}', "'ann' is damaged"),
])
def test_a_damaged_or_foreign_file_is_refused_with_the_reason(tmp_path, content, error):
    path = tmp_path / "bad.zip"
    if isinstance(content, str):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(BACKUP_MANIFEST, content.removeprefix("zip:"))
        content = buf.getvalue()
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"bad\.zip: ") as e:
        read_backup(path)
    assert error in str(e.value)


@pytest.mark.parametrize("space", [123, None, "", "x" * 201, "model\nchip"])
def test_an_ignore_list_whose_space_is_not_a_short_printable_string_is_refused_whole(tmp_path, caplog, space):
    from edged.store.ignore import IGNORE_FILE, IgnoreList

    path = tmp_path / IGNORE_FILE
    buf = io.BytesIO()
    meta = [{"id": "0123456789ab", "camera": "door", "created": 1.0, "space": space}]
    np.savez(buf, meta=np.array(json.dumps(meta)), e0=np.ones((1, 512), np.float32))
    path.write_bytes(buf.getvalue())
    listed = IgnoreList(path, shipped_space())
    assert listed.listing() == {"ignored": []} and listed.gallery() == {}
    assert "unreadable ignore list, ignoring nobody" in caplog.text and "short printable string" in caplog.text
    assert path.read_bytes() == buf.getvalue()  # left as it was, for its owner to look at


def test_stale_ignored_faces_are_named_once_in_the_log_and_in_a_full_lists_refusal(tmp_path, caplog):
    import logging

    from edged.store.ignore import IGNORE_FILE, UNRECORDED_SPACE, Ignored, IgnoreList, encode

    path = tmp_path / IGNORE_FILE
    old = Ignored("0123456789ab", "door", 1.0, np.ones((1, 512), np.float32), UNRECORDED_SPACE)
    path.write_bytes(encode({old.ignore_id: old}))
    caplog.set_level(logging.WARNING, logger="edged.store.ignore")
    listed = IgnoreList(path, shipped_space(), max_entries=2)
    listed.add("hall", np.ones((1, 512), np.float32))  # another process's edit would reload the same stale entry
    listed._seen = None
    assert listed.reload_if_changed()
    assert caplog.text.count("made in another embedding space") == 1
    with pytest.raises(InputError, match=r"full \(2 faces, 1 of them stale\): remove one first"):
        listed.add("hall", np.ones((1, 512), np.float32))
