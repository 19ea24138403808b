"""Daemon figures: seconds from start to READY=1, and frame-to-event latency.

Starts a private mosquitto and ``frd run`` on the looping Hamilton clip (the
person enrolled beforehand with the CLI), receives sd_notify on a real unix
socket and the events over MQTT. Latency is the time from the capture of the
frame that completed the vote (the event's ``frame_ts``) to the arrival of the
event at an MQTT subscriber on the same machine; cooldowns are set to 0 so
every confirmation is an event.

    python benchmarks/daemon.py [--seconds 60] [--starts 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.broker import Mosquitto  # noqa: E402


def start_frd(cfg: Path, notify: str) -> subprocess.Popen:
    env = {**os.environ, "NOTIFY_SOCKET": notify}
    return subprocess.Popen([sys.executable, "-m", "edged", "run", "-c", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def seconds_to_ready(cfg: Path, tmp: Path) -> float:
    path = str(tmp / f"notify-{time.monotonic_ns()}.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60)
    t0 = time.monotonic()
    proc = start_frd(cfg, path)
    try:
        while b"READY=1" not in sock.recv(4096):
            pass
        return time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(15)
        sock.close()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    default_data = Path(os.environ.get("FRD_TEST_DATA", ROOT.parent / "shared/data/faces"))
    ap.add_argument("--data", type=Path, default=default_data)

    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--starts", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d, Mosquitto() as broker:
        tmp = Path(d)
        subprocess.run([sys.executable, "-m", "edged", "enroll", "lin_manuel_miranda",
                        str(args.data / "video/enroll/lin_manuel_miranda_1.png"), "--gallery", str(tmp / "g")],
                       check=True, capture_output=True)
        cfg = tmp / "frd.yaml"
        cfg.write_text(yaml.safe_dump({
            "device_id": "bench", "mqtt": {"host": broker.host, "port": broker.port},
            "cameras": [{"name": "stage", "source": str(args.data / "video/short_hamilton_clip.mp4"), "loop": True}],
            "gallery": {"path": str(tmp / "g")},
            "recognition": {"cooldown_s": 0, "unknown_cooldown_s": 0},
        }))
        ready = [seconds_to_ready(cfg, tmp) for _ in range(args.starts)]
        latencies: list[float] = []
        named = 0

        def on_message(_c, _u, msg) -> None:
            nonlocal named
            now = time.time()
            ev = json.loads(msg.payload)
            latencies.append(now - datetime.fromisoformat(ev["frame_ts"].replace("Z", "+00:00")).timestamp())
            named += ev["name"] is not None

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.on_message = on_message
        c.connect(broker.host, broker.port)
        c.subscribe("frd/bench/event", qos=1)
        c.loop_start()
        proc = start_frd(cfg, str(tmp / "latency.sock"))
        time.sleep(args.seconds)
        proc.terminate()
        proc.wait(15)
        c.loop_stop()
    ms = [1000 * x for x in latencies]
    print(f"start to READY=1: median {statistics.median(ready):.2f} s over {len(ready)} starts "
          f"({', '.join(f'{r:.2f}' for r in ready)})")
    if ms:
        print(f"frame-to-event latency over {len(ms)} events ({named} named) in {args.seconds:.0f} s: "
              f"p50 {pct(ms, 50):.0f} ms, p95 {pct(ms, 95):.0f} ms, max {max(ms):.0f} ms")
    else:
        print("no events received")


if __name__ == "__main__":
    main()
