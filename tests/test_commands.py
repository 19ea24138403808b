"""The command table (edged/commands.py): one row per command, and every row's rules hold."""

from __future__ import annotations

import json

from edged.commands import COMMANDS, TABLE, CommandHandler
from edged.config import RateLimits
from edged.security import RateLimiter


class Echo:
    """Services that answer with what they were asked (the parsing layer only)."""

    def enroll_images(self, name, images):
        return {"name": name, "added": len(images)}

    def enroll_capture(self, name, camera, frames, timeout_s):
        return {"name": name, "added": frames}

    def delete(self, name):
        return {"deleted": name}

    def rename(self, name, new_name):
        return {"renamed": name, "to": new_name}

    def list_people(self):
        return {"people": []}

    def status(self):
        return {"fps": 0}

    def reload(self):
        return {"people": []}


def test_commands_come_from_the_table_and_each_has_a_configured_rate_limit():
    assert COMMANDS == tuple(TABLE) == ("enroll", "delete", "rename", "list", "status", "reload")
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
                "rename": {"name": "a", "new_name": "b"}}
    for command in COMMANDS:
        body = json.dumps({"request_id": command, **payloads.get(command, {})}).encode()
        first, second = h.handle(command, None, body), h.handle(command, None, body)
        assert first.ok and first.request_id == command, (command, first)
        assert not second.ok and "rate limit" in second.error and second.request_id == command
    assert rate.refused == {c: 1 for c in COMMANDS}
