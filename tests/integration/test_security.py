"""Who may enroll: signed commands, replay window, rate limits, broker password/ACL and TLS.

The first half checks the pieces in-process (real HMAC, real files, injectable
clocks); the second half runs the real thing: mosquitto with the repository's
ACL (``config/mosquitto/frd.acl``) and a password file, mosquitto with TLS and
client certificates, and ``frd run`` as a subprocess with a command key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edged.core.topics import Topics
from edged.mqtt.bus import Bus, BusSettings
from edged.mqtt.security import (
    CommandGuard,
    read_key,
)
from tests.broker import Mosquitto, mosquitto_available, publish, subscribe_collect
from tests.daemon_helpers import FrdProcess, fleet_config, fleet_keys, wait_until, write_config

ROOT = Path(__file__).resolve().parents[2]
ACL = ROOT / "config" / "mosquitto" / "frd.acl"
KEY = b"0123456789abcdef0123456789abcdef"


def test_the_openssl_shell_recipe_makes_envelopes_frd_accepts(tmp_path):
    """The README's recipe for signing without frd installed (bash, openssl, base64)."""
    key = tmp_path / "command_key"
    key.write_text(KEY.decode() + "\n")
    key.chmod(0o600)
    photo = tmp_path / "photo.bin"
    photo.write_bytes(bytes(range(256)))
    topic = "frd/door/cmd/enroll/alice"
    script = r"""
set -euo pipefail
topic=$1; key=$2; file=$3
ts=$(date +%s); nonce=$(openssl rand -hex 16)
sig=$({ printf 'frd-command-v1\n%s\n%s\n%s\n' "$topic" "$ts" "$nonce"; cat "$file"; } \
      | openssl dgst -sha256 -hmac "$(cat "$key")" -r | cut -d' ' -f1)
printf '{"v": 1, "ts": %s, "nonce": "%s", "payload_b64": "%s", "sig": "%s"}\n' \
       "$ts" "$nonce" "$(base64 -w0 "$file")" "$sig"
"""
    out = subprocess.run(["bash", "-c", script, "sign", topic, str(key), str(photo)], capture_output=True,
                         check=True, text=True).stdout
    g = CommandGuard(read_key(key), require_signed=True)
    assert g.check(topic, out.encode()) == photo.read_bytes()


# ---------------------------------------------------------------- the real daemon with a command key


BASE = "frd/testdoor"


def _ask(broker, topic, payload, reply_cmd, timeout=30):
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/reply/{reply_cmd}"]) as sub:
        publish(broker.host, broker.port, topic, payload, qos=1)
        return sub.wait_for(lambda m: True, timeout).json()


def _frd_sign(key: Path, topic: str, *args: str) -> bytes:
    out = subprocess.run([sys.executable, "-m", "edged", "sign", "--key-file", str(key), "--topic", topic, *args],
                         capture_output=True, check=True, timeout=60)
    return out.stdout


def _gallery_files(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.npz")}


def test_daemon_refuses_wrong_key_unsigned_stale_and_replayed_and_accepts_a_signed_enrollment(
        tmp_path, broker, data):
    lin = data / "video/enroll/lin_manuel_miranda_1.png"
    creds = tmp_path / "creds"
    creds.mkdir()
    key = creds / "command_key"
    key.write_text(KEY.decode() + "\n")
    key.chmod(0o400)
    wrong = tmp_path / "wrong_key"
    wrong.write_text("a-different-key-of-32-characters")
    wrong.chmod(0o600)
    cfg = write_config(tmp_path, broker, data / "video/short_hamilton_clip.mp4",
                       security={"require_signed_commands": True})
    p = FrdProcess(cfg, env={"CREDENTIALS_DIRECTORY": str(creds)}).start()  # the key as a systemd credential
    gallery = tmp_path / "gallery"
    try:
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as sub:
            sub.wait_for(lambda m: m.text == "online", 60)
        # envelopes carry whole seconds, and a fresh install has no list of used nonces: one signed in the
        # start-up's own second counts as signed before it (fail closed), so sign in a later second
        time.sleep(1.1)
        topic = f"{BASE}/cmd/enroll/lin"
        good = _frd_sign(key, topic, "-f", str(lin))
        cases = [
            (_frd_sign(wrong, topic, "-f", str(lin)), "bad signature"),
            (lin.read_bytes(), "unsigned command refused"),
            (_frd_sign(key, topic, "-f", str(lin), "--ts", str(int(time.time()) - 3600)), "s old"),
            (_frd_sign(key, f"{BASE}/cmd/enroll/other", "-f", str(lin)), "bad signature"),  # signed for another topic
        ]
        for payload, why in cases:
            r = _ask(broker, topic, payload, "enroll")
            assert r["ok"] is False and why in r["error"], r
            assert _gallery_files(gallery) == {}
        # a right signature, sent with mosquitto_pub exactly as the README says
        signed = tmp_path / "signed.json"
        signed.write_bytes(good)
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/reply/enroll"]) as sub:
            subprocess.run(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1", "-t", topic,
                            "-f", str(signed)], check=True, timeout=10)
            r = sub.wait_for(lambda m: True, 60).json()
        assert r["ok"] is True and r["data"]["added"] == 1, r
        after = _gallery_files(gallery)
        assert list(after) == ["lin.npz"]
        r = _ask(broker, topic, good, "enroll")  # the same message again: a replay
        assert r["ok"] is False and "replayed" in r["error"], r
        # signed JSON commands work too, and the reply echoes the request id
        body = json.dumps({"request_id": "l1"})
        r = _ask(broker, f"{BASE}/cmd/list", _frd_sign(key, f"{BASE}/cmd/list", "-m", body), "list")
        assert r["ok"] and r["request_id"] == "l1" and [x["name"] for x in r["data"]["people"]] == ["lin"]
        p.stop()
        # a restart does not forget which nonces were used
        p.start()
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as sub:
            sub.wait_for(lambda m: m.text == "online" and not m.retain, 60)
        r = _ask(broker, topic, good, "enroll")
        assert r["ok"] is False and "replayed" in r["error"], r
        assert _gallery_files(gallery) == after
        log = p.log_text()
        assert log.count("refused: bad signature") == 2 and "unsigned command refused" in log
    finally:
        p.stop()


def test_daemon_without_a_key_refuses_to_start_when_signing_is_required(tmp_path, broker, data):
    cfg = write_config(tmp_path, broker, data / "video/short_hamilton_clip.mp4",
                       security={"require_signed_commands": True})
    p = FrdProcess(cfg, env={"CREDENTIALS_DIRECTORY": str(tmp_path)}).start()
    assert p.wait(60) == 1
    assert "no command key" in p.log_text()


# ---------------------------------------------------------------- broker: password file + the repository's ACL


PASSWORDS = {"door": "door-secret", "garden": "garden-secret", "frd-admin": "admin-secret",
             "homeassistant": "ha-secret"}


@pytest.fixture
def acl_broker(tmp_path):
    if not mosquitto_available() or not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto and mosquitto_passwd are needed (apt-get install mosquitto)")
    pw = tmp_path / "passwd"
    pw.touch(mode=0o600)
    for user, secret in PASSWORDS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(pw), user, secret], check=True, capture_output=True)
    conf = f"allow_anonymous false\npassword_file {pw}\nacl_file {ACL}\n"
    b = Mosquitto(extra_conf=conf)
    b._write_conf()
    text = b.conf_path.read_text().replace("allow_anonymous true\n", "")
    b.conf_path.write_text(text)
    with b:
        yield b


def _publish_as(broker, user, topic, payload=b"x", password=None):
    """Publish with QoS 1 as ``user``; returns the broker's PUBACK reason (MQTT 5), e.g. 'Not authorized'."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password or PASSWORDS[user])
    acked = threading.Event()
    result: dict = {}

    def on_publish(_c, _u, _mid, reason, _props):
        result["reason"] = str(reason)
        acked.set()

    connected = threading.Event()
    c.on_connect = lambda _c, _u, _f, reason, _p: (result.update(connect=str(reason)), connected.set())
    c.on_publish = on_publish
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        assert connected.wait(10)
        if result["connect"] != "Success":
            return result["connect"]
        c.publish(topic, payload, qos=1)
        assert acked.wait(10)
        return result["reason"]
    finally:
        c.disconnect()
        c.loop_stop()


def _collect_as(broker, user, topics):
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, PASSWORDS[user])
    got: list = []
    c.on_message = lambda _c, _u, m: got.append((m.topic, bytes(m.payload)))
    granted = threading.Event()
    c.on_subscribe = lambda _c, _u, _mid, codes, _p: (got.append(("granted", [str(x) for x in codes])), granted.set())
    up = threading.Event()
    c.on_connect = lambda *a: up.set()
    c.connect(broker.host, broker.port)
    c.loop_start()
    assert up.wait(10)
    c.subscribe([(t, 1) for t in topics])
    assert granted.wait(10)
    return c, got


def test_acl_only_the_admin_may_command_and_each_device_writes_only_its_own_topics(tmp_path, acl_broker, data):
    b = acl_broker
    lin = data / "video/enroll/lin_manuel_miranda_1.png"
    pw = tmp_path / "door.pw"
    pw.write_text(PASSWORDS["door"] + "\n")
    pw.chmod(0o600)
    keys = fleet_keys(tmp_path, ["door"])
    cfg = write_config(tmp_path, b, data / "video/short_hamilton_clip.mp4", device_id="door",
                       mqtt={"username": "door", "password_file": str(pw)}, fleet=fleet_config(keys, "door"))
    p = FrdProcess(cfg).start()
    try:
        admin, got = _collect_as(b, "frd-admin", ["frd/door/#"])
        assert wait_until(lambda: ("frd/door/availability", b"online") in got, 60), p.log_text()
        assert wait_until(lambda: any(t == "frd/door/status" for t, _ in got), 10)  # its own topics: allowed
        # not the admin: refused by the broker, frd never sees the message
        for user in ("homeassistant", "garden", "door"):
            assert _publish_as(b, user, "frd/door/cmd/enroll/mallory", lin.read_bytes()) == "Not authorized"
            assert _publish_as(b, user, "frd/all/cmd/delete/lin") == "Not authorized"
        # devices cannot speak for each other, and only devices may touch the fleet gallery
        assert _publish_as(b, "garden", "frd/door/event") == "Not authorized"
        assert _publish_as(b, "garden", "homeassistant/binary_sensor/frd_door/person_x/config") == "Not authorized"
        assert _publish_as(b, "homeassistant", "frd/gallery/mallory", b"{}") == "Not authorized"
        assert _publish_as(b, "frd-admin", "frd/gallery/mallory", b"{}") == "Not authorized"
        assert _publish_as(b, "door", "frd/gallery/door_person", b"") != "Not authorized"
        assert _publish_as(b, "garden", "frd/gallery/garden_person", b"") == "Not authorized"  # recognizes only
        assert _publish_as(b, "door", "frd/door/cmd/enroll/x") == "Not authorized"  # not even to itself
        assert _publish_as(b, "nobody", "frd/door/cmd/list", password="guess") == "Not authorized"  # CONNACK
        # the admin may
        admin.publish("frd/door/cmd/enroll/lin", lin.read_bytes(), qos=1)
        assert wait_until(lambda: any(t == "frd/door/reply/enroll" for t, _ in got), 60), p.log_text()
        replies = [json.loads(v) for t, v in got if t == "frd/door/reply/enroll"]
        assert len(replies) == 1 and replies[0]["ok"] and replies[0]["data"]["added"] == 1
        assert sorted(x.name for x in (tmp_path / "gallery").glob("*.npz")) == ["lin.npz"]
        admin.disconnect()
        admin.loop_stop()
    finally:
        p.stop()


def test_wrong_broker_password_is_logged_and_frd_stays_offline(tmp_path, acl_broker):
    pw = tmp_path / "pw"
    pw.write_text("not-the-password")
    up = threading.Event()
    bus = Bus(BusSettings(acl_broker.host, acl_broker.port, "frd-door", username="door", password=pw.read_text()),
              Topics("frd", "door"), lambda m: None, up.set)
    bus.start()
    try:
        assert not up.wait(3)
        assert "Not authorized" in acl_broker.log_text() or "not authorised" in acl_broker.log_text().lower()
    finally:
        bus.stop()


# ---------------------------------------------------------------- TLS: CA, client certificates, hostname check


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1, one for another host name, and a client certificate."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=frd test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    for name, san in (("server", "IP:127.0.0.1,DNS:localhost"), ("wrong", "DNS:broker.example.org"),
                      ("client", "DNS:door")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                 f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)
    for f in d.iterdir():
        f.chmod(0o644)  # the broker (which may run as another user) reads its certificate and key
    (d / "client.key").chmod(0o600)  # frd refuses a TLS client key others may read
    return d


def _tls_broker(pki: Path, server: str) -> Mosquitto:
    conf = (f"cafile {pki / 'ca.crt'}\ncertfile {pki / server}.crt\nkeyfile {pki / server}.key\n"
            "require_certificate true\n")
    return Mosquitto(extra_conf=conf)


def _tls_bus(b: Mosquitto, pki: Path, insecure: bool = False) -> tuple[Bus, threading.Event]:
    up = threading.Event()
    s = BusSettings(b.host, b.port, "frd-door", tls=True, ca_file=str(pki / "ca.crt"),
                    cert_file=str(pki / "client.crt"), key_file=str(pki / "client.key"), tls_insecure=insecure)
    return Bus(s, Topics("frd", "door"), lambda m: None, up.set), up


def test_tls_with_client_certificate_through_the_config(tmp_path, pki, data):
    with _tls_broker(pki, "server") as b:
        tls = {"enabled": True, "ca_file": str(pki / "ca.crt"), "cert_file": str(pki / "client.crt"),
               "key_file": str(pki / "client.key")}
        cfg = write_config(tmp_path, b, data / "video/short_hamilton_clip.mp4", mqtt={"tls": tls})
        p = FrdProcess(cfg).start()
        try:
            assert wait_until(lambda: "connected to" in p.log_text(), 60), p.log_text()
            # a plain-TCP client cannot even connect to this listener
            with pytest.raises((TimeoutError, OSError)):
                subscribe_collect(b.host, b.port, ["#"], timeout=2)
        finally:
            p.stop()


def test_tls_hostname_check_refuses_a_certificate_for_another_host(pki, caplog):
    with _tls_broker(pki, "wrong") as b:
        bus, up = _tls_bus(b, pki)
        bus.start()
        try:
            assert not up.wait(4), "connected although the certificate names another host"
            assert "cannot connect to broker" in caplog.text and "TLS: check" in caplog.text
        finally:
            bus.stop()
        bus, up = _tls_bus(b, pki, insecure=True)  # tls.insecure: skip the hostname check (testing only)
        bus.start()
        try:
            assert up.wait(10)
        finally:
            bus.stop()


def test_tls_without_a_client_certificate_is_refused(pki):
    with _tls_broker(pki, "server") as b:
        up = threading.Event()
        s = BusSettings(b.host, b.port, "frd-door", tls=True, ca_file=str(pki / "ca.crt"))
        bus = Bus(s, Topics("frd", "door"), lambda m: None, up.set)
        bus.start()
        try:
            assert not up.wait(4)
        finally:
            bus.stop()


def test_the_shipped_broker_config_runs_with_tls_passwords_and_the_acl(tmp_path, pki):
    """config/mosquitto/frd.conf as shipped, only its paths and ports pointed at test files."""
    if not mosquitto_available() or not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto and mosquitto_passwd are needed")
    from tests.broker import MOSQUITTO, free_port

    pw = tmp_path / "passwd"
    pw.touch(mode=0o600)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "door", PASSWORDS["door"]], check=True, capture_output=True)
    tls_port, plain_port = free_port(), free_port()
    conf = (ROOT / "config/mosquitto/frd.conf").read_text()
    for old, new in (("/etc/mosquitto/frd.passwd", str(pw)), ("/etc/mosquitto/frd.acl", str(ACL)),
                     ("/etc/mosquitto/certs/ca.crt", str(pki / "ca.crt")),
                     ("/etc/mosquitto/certs/broker.crt", str(pki / "server.crt")),
                     ("/etc/mosquitto/certs/broker.key", str(pki / "server.key")),
                     ("listener 8883", f"listener {tls_port}"), ("listener 1883 ", f"listener {plain_port} "),
                     ("/var/lib/mosquitto/", f"{tmp_path}/")):
        assert old in conf, old
        conf = conf.replace(old, new)
    import pwd

    (tmp_path / "frd.conf").write_text(conf + f"\nuser {pwd.getpwuid(os.getuid()).pw_name}\n"
                                       f"log_dest file {tmp_path / 'log'}\n")
    proc = subprocess.Popen([str(MOSQUITTO), "-c", str(tmp_path / "frd.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        up = threading.Event()
        got: list = []
        s = BusSettings("127.0.0.1", tls_port, "frd-door", username="door", password=PASSWORDS["door"], tls=True,
                        ca_file=str(pki / "ca.crt"), cert_file=str(pki / "client.crt"),
                        key_file=str(pki / "client.key"))
        bus = Bus(s, Topics("frd", "door"), got.append, up.set, [Topics("frd", "door").cmd_wildcard])
        bus.start()
        try:
            assert up.wait(15), (proc.poll(), (tmp_path / "log").read_text() if (tmp_path / "log").exists() else "")
        finally:
            bus.stop()
    finally:
        proc.terminate()
        proc.wait(10)
