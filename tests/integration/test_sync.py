"""Fleet gallery sync: enroll on one device, recognised on another; rename/delete follow; late joiners catch up."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.broker import publish, subscribe_collect
from tests.daemon_helpers import FrdProcess, fleet_config, fleet_keys, wait_until, write_config


def start(tmp_path, broker, device, source, fps_limit=None):
    folder = tmp_path / device
    folder.mkdir()
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(exist_ok=True)
    keys = {d: (keys_dir / f"{d}.fleet_key.pem", (keys_dir / f"{d}.pub").read_text())
            for d in ("a", "b", "c", "solo") if (keys_dir / f"{d}.pub").exists()}
    if not keys:
        keys = fleet_keys(keys_dir, ["a", "b", "c", "solo"])
        for d, (_, pub) in keys.items():
            (keys_dir / f"{d}.pub").write_text(pub)
    camera = {"name": "stage", "source": str(source), "loop": True, "fps_limit": fps_limit}
    cfg = write_config(folder, broker, source, device_id=device, fleet=fleet_config(keys, device),
                       cameras=[camera])
    return FrdProcess(cfg).start()


def ask(broker, device, command, payload=b""):
    with subscribe_collect(broker.host, broker.port, [f"frd/{device}/reply/{command}"]) as sub:
        publish(broker.host, broker.port, f"frd/{device}/cmd/{command}", payload, qos=1)
        return sub.wait_for(lambda m: True, 30).json()


def people(broker, device):
    return {p["name"]: p for p in ask(broker, device, "list")["data"]["people"]}


@pytest.fixture
def fleet(tmp_path, broker, data):
    clip = data / "video/short_hamilton_clip.mp4"
    procs = {"a": start(tmp_path, broker, "a", clip, fps_limit=2), "b": start(tmp_path, broker, "b", clip)}
    yield procs, clip
    for p in procs.values():
        p.stop()


def test_one_enrollment_reaches_every_device_and_follows_renames_and_deletes(fleet, broker, data, tmp_path):
    _, clip = fleet

    for dev in ("a", "b"):
        with subscribe_collect(broker.host, broker.port, [f"frd/{dev}/availability"]) as sub:
            sub.wait_for(lambda m: m.text == "online", 30)
    lin = data / "video/enroll/lin_manuel_miranda_1.png"
    with subscribe_collect(broker.host, broker.port, ["frd/b/event", "frd/a/reply/enroll"]) as sub:
        subprocess.run(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1",
                        "-t", "frd/a/cmd/enroll/lin_manuel_miranda", "-f", str(lin)], check=True, timeout=10)
        assert sub.wait_for(lambda m: m.topic == "frd/a/reply/enroll", 30).json()["ok"]
        ev = sub.wait_for(lambda m: m.topic == "frd/b/event" and m.json()["name"] == "lin_manuel_miranda", 30)
    assert ev.json()["device"] == "b"
    b_people = people(broker, "b")
    assert b_people["lin_manuel_miranda"]["embeddings"] == 1
    assert b_people["lin_manuel_miranda"]["crops"] == 0  # images never travel

    with subscribe_collect(broker.host, broker.port, ["frd/gallery/+"]) as sub:
        shared = sub.wait_for(lambda m: m.topic == "frd/gallery/lin_manuel_miranda", 10)
    msg = shared.json()
    assert shared.retain and set(msg) == {"v", "signer", "record", "sig"} and msg["signer"] == "a"
    body = json.loads(msg["record"])
    assert set(body) == {"version", "name", "rev", "model_sha256", "origin", "updated", "shape", "embeddings_b64"}
    assert body["shape"] == [1, 512] and body["origin"] == "a" and len(shared.payload) < 8000
    assert body["version"] == 2 and body["rev"] == 1

    refused = ask(broker, "b", "rename", json.dumps({"name": "lin_manuel_miranda", "new_name": "lin"}))
    assert not refused["ok"] and "was enrolled on device 'a'" in refused["error"], refused  # a's person
    assert ask(broker, "a", "rename", json.dumps({"name": "lin_manuel_miranda", "new_name": "lin"}))["ok"]
    assert wait_until(lambda: set(people(broker, "a")) == {"lin"}, 20)

    late = start(tmp_path, broker, "c", clip, fps_limit=1)
    try:
        with subscribe_collect(broker.host, broker.port, ["frd/c/availability"]) as sub:
            sub.wait_for(lambda m: m.text == "online", 30)

        assert wait_until(lambda: set(people(broker, "c")) == {"lin"}, 40), late.log_text()[-2000:]
        refused = ask(broker, "c", "delete", json.dumps({"name": "lin"}))
        assert not refused["ok"] and "was enrolled on device 'a'" in refused["error"], refused
        assert ask(broker, "a", "delete", json.dumps({"name": "lin"}))["ok"]
        for dev in ("b", "c"):
            assert wait_until(lambda d=dev: people(broker, d) == {}, 20), dev
    finally:
        late.stop()
    assert not (tmp_path / "b" / "gallery" / "lin.npz").exists()
    # the broker keeps no embedding of lin: what is retained is a's signed tombstone (the name, no embedding),
    # so a device that joins later refuses lin's old records; the renamed-away name's tombstone too
    with subscribe_collect(broker.host, broker.port, ["frd/gallery/+"]) as sub:
        sub.wait_for(lambda m: m.topic == "frd/gallery/lin_manuel_miranda", 5)
        sub.wait_for(lambda m: m.topic == "frd/gallery/lin", 5)
        time.sleep(0.5)
    for m in sub.messages:
        rec = json.loads(m.json()["record"])
        assert m.retain and rec["deleted"] is True and "embeddings_b64" not in rec, rec


def test_a_device_with_another_model_ignores_shared_people(tmp_path, broker, data):
    clip = data / "video/short_hamilton_clip.mp4"
    p = start(tmp_path, broker, "solo", clip, fps_limit=1)
    try:
        with subscribe_collect(broker.host, broker.port, ["frd/solo/availability"]) as sub:
            sub.wait_for(lambda m: m.text == "online", 30)
        from edged.integrations.fleet.record import signed_message
        from edged.integrations.fleet.trust import load_signing_key

        foreign = {"version": 2, "name": "eve", "rev": 1, "model_sha256": "0" * 64, "origin": "a", "updated": 1.0,
                   "shape": [1, 512], "embeddings_b64": "AAAA" * 512}
        a_key = load_signing_key(tmp_path / "keys" / "a.fleet_key.pem")
        signed = signed_message("frd/gallery/eve", foreign, "a", a_key)
        publish(broker.host, broker.port, "frd/gallery/eve", signed, retain=True, qos=1)
        publish(broker.host, broker.port, "frd/gallery/mallory", b"{broken", retain=True, qos=1)
        assert wait_until(lambda: "model" in p.log_text() and "malformed" in p.log_text(), 15), p.log_text()[-1500:]
        assert people(broker, "solo") == {}
        assert p.alive()
    finally:
        p.stop()
        publish(broker.host, broker.port, "frd/gallery/eve", b"", retain=True, qos=1)
        publish(broker.host, broker.port, "frd/gallery/mallory", b"", retain=True, qos=1)
