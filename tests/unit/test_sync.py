"""Fleet gallery sync: enroll on one device, recognised on another; rename/delete follow; late joiners catch up."""

from __future__ import annotations

import json

import pytest


def test_a_sync_record_with_a_lone_surrogate_is_refused_with_a_clear_error():
    """JSON may escape a lone UTF-16 surrogate ("\\udd8e"): such a record is no UTF-8 text and was never
    signed; it is an input error, not a traceback (found by tests/integration/test_fuzz.py)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edged.core.errors import InputError
    from edged.integrations.fleet.record import signed_message, verify
    from edged.integrations.fleet.trust import Trust

    key = Ed25519PrivateKey.generate()
    trust = Trust("door", key, {}, [])
    topic = "frd/gallery/lin"
    good = signed_message(topic, {"name": "lin"}, "door", key)
    assert verify(topic, good.encode(), trust)[0] == "door"
    bad = json.loads(good)
    bad["record"] = '{"name":"lin\udd8e"}'
    with pytest.raises(InputError, match="not UTF-8 text"):
        verify(topic, json.dumps(bad).encode(), trust)


# ---------------------------------------------------------------- ordering by revision, not by clock


def test_entries_are_ordered_by_revision_then_a_deletion_then_the_authority_whatever_the_dates():
    from edged.integrations.fleet.ledger import Entry

    enrolled = Entry(1, False, "door")
    assert Entry(2, True, "door").key() > enrolled.key()  # the next revision wins, dated or not
    assert Entry(1, True, "garden").key() > enrolled.key()  # two changes made blind to each other: delete wins
    assert Entry(1, False, "authority").key() > Entry(1, False, "zz-device").key()
    assert Entry(1, True, "door").key() > Entry(1, False, "authority").key()
    assert not Entry(1, False, "door").key() > enrolled.key()  # the same state again is not newer


def test_the_ledger_keeps_salted_names_survives_a_restart_and_bounds_its_tombstones(tmp_path, monkeypatch):
    import edged.integrations.fleet.ledger as ledger_mod
    from edged.integrations.fleet.ledger import Entry, Ledger

    old = tmp_path / ".fleet-deleted.json"  # the previous version's list of deletions: its salt is kept
    old.write_text(json.dumps({"v": 1, "salt": "00" * 16, "deleted": {"x" * 64: 1.0}}))
    path = tmp_path / ".fleet-ledger.json"
    ledger = Ledger(path)
    assert not old.exists() and len(ledger) == 0 and json.loads(path.read_text())["salt"] == "00" * 16
    assert ledger.next_rev("alice") == 1
    ledger.record("alice", Entry(1, False, "door"))
    ledger.record("alice", Entry(2, True, "door"))
    again = Ledger(path)
    assert again.get("alice") == Entry(2, True, "door") and again.next_rev("alice") == 3
    assert b"alice" not in path.read_bytes() and path.stat().st_mode & 0o777 == 0o600
    assert not again.outranks("alice", Entry(1, False, "door")) and again.outranks("alice", Entry(3, False, "door"))

    monkeypatch.setattr(ledger_mod, "MAX_ENTRIES", 3)
    small = Ledger(tmp_path / "small.json")
    small.record("live", Entry(1, False, "door"))
    for i in range(4):
        small.record(f"gone{i}", Entry(1, True, "door"))
    assert len(small) == 3 and small.get("live") is not None  # the oldest tombstones go first
    assert small.get("gone0") is None and small.get("gone1") is None and small.get("gone3") is not None


def test_the_authority_tool_signs_the_next_revision(tmp_path, capsys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edged.integrations.fleet.admin import main

    key = tmp_path / "authority.pem"
    key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key.chmod(0o600)
    current = tmp_path / "lin.json"
    current.write_text(json.dumps({"v": 2, "signer": "door", "sig": "",
                                   "record": json.dumps({"version": 2, "name": "lin", "rev": 4, "origin": "door",
                                                         "updated": 1.0, "shape": [1, 512],
                                                         "embeddings_b64": ""})}))
    topic = ["--key", str(key), "--topic", "frd/gallery/lin"]
    assert main(["sign", *topic, "--from-message", str(current), "--origin", "garden"]) == 0
    handed = json.loads(json.loads(capsys.readouterr().out)["record"])
    assert (handed["rev"], handed["origin"], handed["version"]) == (5, "garden", 2)
    assert main(["sign", *topic, "--delete", "--from-message", str(current)]) == 0
    gone = json.loads(json.loads(capsys.readouterr().out)["record"])
    assert gone["deleted"] is True and gone["rev"] == 5 and "embeddings_b64" not in gone
    assert main(["sign", *topic, "--delete"]) == 1  # which revision would it outrank?
    assert "--from-message" in capsys.readouterr().err
    assert main(["sign", *topic, "--delete", "--rev", "9"]) == 0


def test_a_record_of_version_1_is_refused_with_its_reason_and_its_origin():
    from edged.core.errors import InputError
    from edged.integrations.fleet.record import OldRecord, parse

    v1 = json.dumps({"version": 1, "name": "lin", "origin": "door", "updated": 1e9, "deleted": True}).encode()
    with pytest.raises(OldRecord, match=r"version 1 .*ordered by the devices' clocks.*'door' republishes") as info:
        parse("lin", v1, 512)
    assert info.value.origin == "door"
    for rev in (0, -1, 2**53, 1.5, True, None):
        body = {"version": 2, "name": "lin", "origin": "door", "updated": 1e9, "deleted": True, "rev": rev}
        with pytest.raises(InputError, match="rev must be an integer"):
            parse("lin", json.dumps(body).encode(), 512)
    far = {"version": 2, "name": "lin", "origin": "door", "updated": 1e300, "deleted": True, "rev": 1}
    with pytest.raises(InputError, match="updated must be a Unix time"):
        parse("lin", json.dumps(far).encode(), 512)


def test_a_replay_that_lands_just_after_a_deletion_meets_it_and_is_refused(tmp_path, caplog):
    """Records wait per person in the order they came, and the ledger says which is newest: a deletion, a replay
    of the person's old record and the deleter's answer (its deletion again), all arriving before the command
    thread applies any, leave nobody enrolled and say "a replay?". (When only the last arrival per person was
    kept, the answer hid the replay; a replay after the deletion would have hidden the deletion.)"""
    import logging
    from types import SimpleNamespace

    import numpy as np
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edged.core.topics import Topics
    from edged.integrations.fleet.ledger import Ledger
    from edged.integrations.fleet.record import deletion_message, person_message
    from edged.integrations.fleet.sync import FleetSync
    from edged.integrations.fleet.trust import Trust
    from edged.mqtt.bus import Incoming
    from edged.service.people import People
    from edged.store.gallery import Gallery

    door = Ed25519PrivateKey.generate()
    topics = Topics("frd", "yard")

    def yard(folder):
        gallery = Gallery(folder / "gallery", "m" * 64)
        people = People(SimpleNamespace(matcher=SimpleNamespace(set_gallery=lambda g: None)), gallery,
                        keep_crops=False)
        sync = FleetSync(people, SimpleNamespace(publish=sent.append), topics,
                         Trust("yard", None, {"door": [door.public_key()]}, []), embedding_dim=4,
                         ledger=Ledger(folder / "ledger.json"))
        return sync, gallery

    def arrive(sync, *messages):
        for m in messages:
            assert sync.accept(Incoming(m.topic, m.payload.encode() if isinstance(m.payload, str) else m.payload))

    sent: list = []
    emb = np.eye(4, dtype=np.float32)[:1]
    enrolled = person_message(topics, "lin", emb, "m" * 64, "door", 100.0, door, rev=1)
    deleted = deletion_message(topics, "lin", "door", 50.0, door, rev=2)
    sync, gallery = yard(tmp_path / "a")
    arrive(sync, deleted, enrolled, deleted)  # the tombstone read on joining, the replay, door's answer to it
    with caplog.at_level(logging.INFO):
        sync.work()
    assert "lin" not in gallery.people
    assert "an old record of lin (revision 1, signed by door) after their deletion (revision 2" in caplog.text
    sync, gallery = yard(tmp_path / "b")
    arrive(sync, deleted, enrolled)  # the replay before door answers it: the deletion is still met first
    sync.work()
    assert "lin" not in gallery.people
    assert sent == []  # yard is not the deletion's author: it publishes nothing
