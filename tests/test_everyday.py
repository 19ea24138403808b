"""Everyday use, end to end: an honest status, the CLI and the daemon agreeing, quiet and readable logs.

Real parts only: mosquitto from tests/broker.py, ``frd run`` and the ``frd`` CLI as subprocesses,
the real clip and model.
"""

from __future__ import annotations

import time

import pytest
import yaml

from tests.broker import subscribe_collect
from tests.daemon_helpers import DEVICE, FrdProcess, write_config

BASE = f"frd/{DEVICE}"


@pytest.fixture
def clip(data):
    return data / "video/short_hamilton_clip.mp4"


def _statuses(broker, seconds: float) -> list[tuple[float, dict]]:
    """(receive time, status JSON) of every status published within ``seconds``."""
    out: list[tuple[float, dict]] = []
    with subscribe_collect(broker.host, broker.port, [f"{BASE}/status"]) as sub:
        end = time.monotonic() + seconds
        seen = 0
        while time.monotonic() < end:
            msgs = sub.messages
            for m in msgs[seen:]:
                out.append((time.monotonic(), m.json()))
            seen = len(msgs)
            time.sleep(0.02)
    return out


def test_status_fps_is_frames_over_elapsed_time(tmp_path, broker, clip):
    """On the clip at its own rate and on the same clip capped at 1 fps (two cameras of one daemon)."""
    cfg = write_config(tmp_path, broker, clip)
    doc = yaml.safe_load(cfg.read_text())
    doc["cameras"].append({"name": "slow", "source": str(clip), "loop": True, "fps_limit": 1})
    doc["status_interval_s"] = 0.5
    cfg.write_text(yaml.safe_dump(doc))
    p = FrdProcess(cfg).start()
    try:
        with subscribe_collect(broker.host, broker.port, [f"{BASE}/availability"]) as sub:
            sub.wait_for(lambda m: m.text == "online", 60)
        time.sleep(12)  # past the 10 s window, so it is full
        got = _statuses(broker, 14)
    finally:
        p.stop()
    assert len(got) >= 10, got
    t2, s2 = got[-1]
    t1, s1 = min(got, key=lambda ts: abs((t2 - ts[0]) - 10))  # about 10 s earlier: the daemon's window
    assert t2 - t1 > 8
    for camera in ("stage", "slow"):
        counted = (s2["cameras"][camera]["frames"] - s1["cameras"][camera]["frames"]) / (t2 - t1)
        reported = s2["cameras"][camera]["fps"]
        assert counted > 0.5, (camera, s1, s2)
        assert abs(reported - counted) <= 0.05 * counted, (camera, reported, counted)
    slow = s2["cameras"]["slow"]["fps"]
    assert 0.9 <= slow <= 1.1, slow
    assert s2["fps"] == pytest.approx(s2["cameras"]["stage"]["fps"] + slow, abs=0.02)


def test_discovery_and_status_are_retained_before_online(tmp_path, broker, clip):
    """Whoever reacts to ``online`` (Home Assistant) must find a complete device already retained."""
    topics = [f"{BASE}/availability", f"{BASE}/status", "homeassistant/+/frd_testdoor/+/config"]
    with subscribe_collect(broker.host, broker.port, topics) as sub:
        p = FrdProcess(write_config(tmp_path, broker, clip)).start()
        try:
            sub.wait_for(lambda m: m.text == "online", 60)
            order = [m.topic if m.text != "online" else "online" for m in sub.messages]
        finally:
            p.stop()
    first_online = order.index("online")
    before = order[:first_online]
    assert f"{BASE}/status" in before, order
    assert sum(t.endswith("/config") for t in before) >= 6, order
