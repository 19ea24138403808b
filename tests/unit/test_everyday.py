"""Everyday use, end to end: an honest status, the CLI and the daemon agreeing, quiet and readable logs.

Real parts only: mosquitto from tests/broker.py, ``frd run`` and the ``frd`` CLI as subprocesses,
the real clip and model.
"""

from __future__ import annotations


def test_the_gallery_tells_its_own_writes_from_other_processes(tmp_path):
    """What the daemon polls: its own writes are not changes, another Gallery's (the CLI's) are, and a
    folder that disappears (a restore under way) is not taken as everyone deleted."""
    import numpy as np

    from edged.store.gallery import Gallery

    emb = np.eye(4, 512, dtype=np.float32)
    daemon = Gallery(tmp_path / "g", "a" * 64)
    daemon.add("alice", emb[:2], None, ["x"])
    assert not daemon.changed_on_disk()
    cli = Gallery(tmp_path / "g", "a" * 64)
    cli.rename("alice", "alicia")
    assert daemon.changed_on_disk()
    daemon.reload()
    assert not daemon.changed_on_disk() and daemon.names() == ["alicia"]
    cli.add("alicia", emb[2:3], None, ["y"])  # same name, new samples: still a change
    assert daemon.changed_on_disk()
    daemon.reload()
    moved = tmp_path / "elsewhere"
    (tmp_path / "g").rename(moved)
    assert not daemon.changed_on_disk()
    moved.rename(tmp_path / "g")
    assert not daemon.changed_on_disk()
