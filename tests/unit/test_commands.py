"""The command table (edged/mqtt/commands.py): one row per command, and every row's rules hold."""

from __future__ import annotations

import json

from edged.config import RateLimits
from edged.mqtt.commands import COMMANDS, TABLE, CommandHandler
from edged.mqtt.security import RateLimiter


class Echo:
    """Services that answer with what they were asked (the parsing layer only)."""

    def enroll_images(self, name, images, force=False):
        return {"name": name, "added": len(images)}

    def enroll_capture(self, name, camera, frames, timeout_s, force=False):
        return {"name": name, "added": frames}

    def delete(self, name):
        return {"deleted": name}

    def rename(self, name, new_name):
        return {"renamed": name, "to": new_name}

    def list_people(self, name=None, detail=False):
        return {"people": [], "name": name, "detail": detail}

    def status(self):
        return {"fps": 0}

    def reload(self):
        return {"people": []}

    def enroll_unknown(self, name, face_ids, visitor=False, force=False):
        return {"name": name, "added": len(face_ids), **({"visitor": True} if visitor else {})}

    def unknown_list(self):
        return {"keep": 0, "faces": []}

    def unknown_forget(self, face_ids):
        return {"forgotten": face_ids or []}

    def ignore_add(self, face_id):
        return {"ignore_id": "0" * 12, "face_id": face_id}

    def ignore_list(self):
        return {"ignored": []}

    def ignore_remove(self, ignore_id):
        return {"removed": ignore_id}

    def reassign(self, name, face_id, event_id):
        return {"name": name, "face_id": face_id, "event_id": event_id}

    def remove_samples(self, name, sample_ids):
        return {"name": name, "removed": sample_ids}

    def snapshot(self, camera):
        return {"camera": camera}


def test_commands_come_from_the_table_and_each_has_a_configured_rate_limit():
    assert COMMANDS == tuple(TABLE) == ("enroll", "delete", "rename", "list", "status", "reload", "unknown",
                                          "ignore", "reassign", "samples", "snapshot")
    assert {row.rate for row in TABLE.values()} == set(RateLimits.model_fields)


def test_every_command_refuses_a_key_outside_its_row_and_names_the_allowed_ones():
    h = CommandHandler(Echo())
    for command, row in TABLE.items():
        reply = h.handle(command, None, json.dumps({"request_id": 1, "colour": "blue"}).encode())
        assert reply.ok is False and reply.request_id == 1, (command, reply)
        assert "unknown field(s) 'colour'" in reply.error
        assert f"allowed: {', '.join(sorted(row.keys)) or 'none'}" in reply.error


def test_every_command_is_answered_and_charged_to_its_own_bucket():
    rate = RateLimiter({row.rate: (1, 0.001) for row in TABLE.values()})
    h = CommandHandler(Echo(), rate=rate)
    payloads = {"enroll": {"name": "a", "image_b64": "aGk="}, "delete": {"name": "a"},
                "rename": {"name": "a", "new_name": "b"}, "reassign": {"name": "a", "face_id": "a1b2c3d4e5f6"},
                "samples": {"name": "a", "sample_id": "a1b2c3d4e5f6"}}
    args = {"unknown": "list", "ignore": "list", "samples": "remove", "snapshot": "front"}
    for command in COMMANDS:
        body = json.dumps({"request_id": command, **payloads.get(command, {})}).encode()
        first, second = h.handle(command, args.get(command), body), h.handle(command, args.get(command), body)
        assert first.ok and first.request_id == command, (command, first)
        assert not second.ok and "rate limit" in second.error and second.request_id == command
    assert rate.refused == {c: 1 for c in COMMANDS}


def test_enroll_takes_held_face_ids_checked_before_the_work():
    h = CommandHandler(Echo())
    ok = h.handle("enroll", None, json.dumps({"name": "lin", "face_ids": ["a1b2c3d4e5f6", "0123456789ab"]}).encode())
    assert ok.ok and ok.data == {"name": "lin", "added": 2}
    both = h.handle("enroll", None, b'{"name": "lin", "face_ids": ["a1b2c3d4e5f6"], "visitor": true}')
    assert both.ok and both.data == {"name": "lin", "added": 1, "visitor": True}
    for body, error in [
        ({"name": "lin", "face_ids": []}, "face_ids must be a list of 1 to 20"),
        ({"name": "lin", "face_ids": "a1b2c3d4e5f6"}, "face_ids must be a list"),
        ({"name": "lin", "face_ids": ["a1b2c3d4e5f6"] * 21}, "1 to 20"),
        ({"name": "lin", "face_ids": ["A1B2C3D4E5F6"]}, "is not a face id"),
        ({"name": "lin", "face_ids": [7]}, "is not a face id"),
        ({"name": "lin", "face_ids": ["a1b2c3d4e5f6"], "image_b64": "aGk="}, "exactly one of"),
        ({"face_ids": ["a1b2c3d4e5f6"]}, "missing 'name'"),
        ({"name": "lin", "face_ids": ["a1b2c3d4e5f6"], "visitor": 1}, "'visitor': true goes with 'face_ids'"),
        ({"name": "lin", "image_b64": "aGk=", "visitor": True}, "'visitor': true goes with 'face_ids'"),
    ]:
        reply = h.handle("enroll", None, json.dumps(body).encode())
        assert reply.ok is False and error in reply.error, (body, reply.error)


def test_unknown_list_and_forget_take_the_action_from_the_topic():
    h = CommandHandler(Echo())
    assert h.handle("unknown", "list", b"").data == {"keep": 0, "faces": []}
    assert h.handle("unknown", "forget", b'{"all": true}').data == {"forgotten": []}
    assert h.handle("unknown", "forget", b'{"face_id": "a1b2c3d4e5f6"}').data == {"forgotten": ["a1b2c3d4e5f6"]}
    for arg, body, error in [
        (None, b"", "unknown needs an action"),
        ("lists", b"", "unknown needs an action"),
        ("list", b'{"all": true}', "unknown/list: unknown field(s) 'all'"),
        ("forget", b"", "exactly one of 'face_id' or 'all'"),
        ("forget", b'{"all": 1}', "'all' must be true"),
        ("forget", b'{"face_id": "zz"}', "face_id: 'zz' is not a face id"),
    ]:
        reply = h.handle("unknown", arg, body)
        assert reply.ok is False and error in reply.error, (arg, body, reply.error)


def test_ignore_adds_lists_and_removes_by_id():
    h = CommandHandler(Echo())
    assert h.handle("ignore", None, b'{"face_id": "a1b2c3d4e5f6"}').data == {"ignore_id": "0" * 12,
                                                                             "face_id": "a1b2c3d4e5f6"}
    assert h.handle("ignore", "list", b"").data == {"ignored": []}
    assert h.handle("ignore", "remove", b'{"ignore_id": "a1b2c3d4e5f6"}').data == {"removed": "a1b2c3d4e5f6"}
    for arg, body, error in [
        (None, b"", "ignore needs 'face_id'"),
        (None, b'{"ignore_id": "a1b2c3d4e5f6"}', "ignore: unknown field(s) 'ignore_id'"),
        (None, b'{"face_id": "nope"}', "is not a face id"),
        ("list", b'{"face_id": "a1b2c3d4e5f6"}', "ignore/list: unknown field(s) 'face_id'"),
        ("remove", b"", "ignore/remove needs 'ignore_id'"),
        ("forget", b"", "cmd/ignore/list or cmd/ignore/remove"),
    ]:
        reply = h.handle("ignore", arg, body)
        assert reply.ok is False and error in reply.error, (arg, body, reply.error)


def test_reassign_takes_a_face_or_an_event_id_and_a_name():
    h = CommandHandler(Echo())
    ok = h.handle("reassign", None, b'{"face_id": "a1b2c3d4e5f6", "name": "bob"}')
    assert ok.ok and ok.data == {"name": "bob", "face_id": "a1b2c3d4e5f6", "event_id": None}
    ev = "0123456789abcdef" * 2
    assert h.handle("reassign", "bob", json.dumps({"event_id": ev}).encode()).data == {
        "name": "bob", "face_id": None, "event_id": ev}
    for body, error in [
        (b'{"name": "bob"}', "exactly one of 'face_id' or 'event_id'"),
        (json.dumps({"name": "bob", "face_id": "a1b2c3d4e5f6", "event_id": ev}).encode(), "exactly one of"),
        (b'{"face_id": "a1b2c3d4e5f6"}', "missing 'name'"),
        (b'{"face_id": "a1b2c3d4e5f6", "name": "../x"}', "name"),
        (b'{"face_id": "nope", "name": "bob"}', "face_id: 'nope' is not a face id"),
        (b'{"event_id": "a1b2c3d4e5f6", "name": "bob"}', "is not an event id"),
        (b'{"event_id": 7, "name": "bob"}', "is not an event id"),
    ]:
        reply = h.handle("reassign", None, body)
        assert reply.ok is False and error in reply.error, (body, reply.error)


def test_samples_remove_and_list_detail():
    h = CommandHandler(Echo())
    ok = h.handle("samples", "remove", b'{"name": "alice", "sample_id": "a1b2c3d4e5f6"}')
    assert ok.ok and ok.data == {"name": "alice", "removed": ["a1b2c3d4e5f6"]}
    for arg, body, error in [
        (None, b'{"name": "alice", "sample_id": "a1b2c3d4e5f6"}', "samples needs an action"),
        ("delete", b'{"name": "alice", "sample_id": "a1b2c3d4e5f6"}', "samples needs an action"),
        ("remove", b'{"sample_id": "a1b2c3d4e5f6"}', "samples/remove needs 'name'"),
        ("remove", b'{"name": "alice"}', "samples/remove needs 'sample_id'"),
        ("remove", b'{"name": "alice", "sample_id": "xyz"}', "sample_id: 'xyz' is not a sample id"),
    ]:
        reply = h.handle("samples", arg, body)
        assert reply.ok is False and error in reply.error, (arg, body, reply.error)
    assert h.handle("list", None, b"").data == {"people": [], "name": None, "detail": False}
    assert h.handle("list", None, b'{"detail": true}').data == {"people": [], "name": None, "detail": True}
    assert h.handle("list", None, b'{"name": "alice"}').data == {"people": [], "name": "alice", "detail": False}
    assert h.handle("list", "alice", b"").data == {"people": [], "name": "alice", "detail": False}
    bad = h.handle("list", None, b'{"detail": 1}')
    assert bad.ok is False and "'detail' must be true or false" in bad.error


def test_snapshot_names_its_camera_in_the_topic_or_the_payload_not_both_differently():
    h = CommandHandler(Echo())
    assert h.handle("snapshot", "front", b"").data == {"camera": "front"}
    assert h.handle("snapshot", None, b'{"camera": "front"}').data == {"camera": "front"}
    assert h.handle("snapshot", None, b"{}").data == {"camera": None}  # one camera: it is that one
    bad = h.handle("snapshot", "front", b'{"camera": "garden"}')
    assert not bad.ok and "differs from 'front' in the topic" in bad.error
    assert "camera must be a camera name" in h.handle("snapshot", None, b'{"camera": 7}').error
