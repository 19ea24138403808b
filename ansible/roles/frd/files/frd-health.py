#!/usr/bin/env python3
"""Health gate of one frd host: is the service up, and does the broker see it online?

Run by the ansible role on the device after a (re)start, with the python of the
current frd release (it has paho-mqtt). Healthy means, within --timeout seconds:

1. the unit is active/running (so Type=notify READY=1 was sent), frd has set its
   status text (STATUS=), and its main process has been up for --settle seconds
   without systemd restarting it;
2. the retained <base_topic>/<device_id>/availability on the broker reads "online"
   (skipped with --no-mqtt);
3. the main process is still the same one afterwards.

A failed unit or one that systemd restarts while we watch fails at once. Prints one
JSON line with what was seen; exit status 0 healthy, 1 not, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

PROPS = ("ActiveState", "SubState", "Result", "StatusText", "MainPID", "NRestarts", "ExecMainStartTimestampMonotonic")


class Unhealthy(Exception):
    pass


def show(unit: str) -> dict[str, str]:
    out = subprocess.run(
        ["systemctl", "show", unit, *(f"--property={p}" for p in PROPS)],
        capture_output=True, text=True, check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def now_usec() -> int:
    return int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)


def wait_unit(unit: str, deadline: float, settle_s: float, seen: dict) -> dict[str, str]:
    """Wait until the unit runs, has a status text and a main process older than settle_s."""
    first_restarts = None
    while True:
        p = show(unit)
        seen["unit"] = p
        restarts = int(p.get("NRestarts") or 0)
        if first_restarts is None:
            first_restarts = restarts
        if p.get("ActiveState") == "failed":
            raise Unhealthy(f"{unit} failed (result {p.get('Result')})")
        if p.get("SubState") == "auto-restart" or restarts > first_restarts:
            raise Unhealthy(f"{unit} exited and is being restarted by systemd (NRestarts {restarts})")
        if p.get("ActiveState") == "active" and p.get("SubState") == "running" and p.get("MainPID", "0") != "0":
            started = int(p.get("ExecMainStartTimestampMonotonic") or 0)
            age = (now_usec() - started) / 1e6
            if not p.get("StatusText"):
                why = "frd has not set its status text yet"
            elif age < settle_s:
                why = f"main process up for {age:.1f}s only"
            else:
                return p
        else:
            why = f"{unit} is {p.get('ActiveState')}/{p.get('SubState')}"
        if time.monotonic() >= deadline:
            raise Unhealthy(f"timed out: {why}")
        time.sleep(0.5)


def wait_online(args: argparse.Namespace, deadline: float, seen: dict) -> None:
    """Wait for the retained availability to read "online" (it may first read "offline")."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    online = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"frd-health-{os.getpid()}",
                         protocol=mqtt.MQTTv311, clean_session=True)
    if args.username:
        password = None
        if args.password_file and os.path.exists(args.password_file):
            with open(args.password_file, encoding="utf-8") as fh:
                password = fh.read().removesuffix("\n") or None
        client.username_pw_set(args.username, password)
    if args.tls:
        client.tls_set(ca_certs=args.ca_file, certfile=args.cert_file, keyfile=args.key_file)
        client.tls_insecure_set(args.insecure)

    def on_connect(c, _u, _f, reason, _p):
        seen["broker"] = str(reason)
        if not reason.is_failure:
            c.subscribe(args.topic, qos=1)

    def on_message(_c, _u, msg):
        seen["availability"] = msg.payload.decode("utf-8", "replace")
        if msg.payload == b"online":
            online.set()

    client.on_connect = on_connect
    client.on_message = on_message
    seen["broker"] = "not connected"
    client.connect_async(args.mqtt_host, args.mqtt_port, keepalive=10)
    client.loop_start()
    try:
        if not online.wait(max(0.0, deadline - time.monotonic())):
            raise Unhealthy(f"{args.topic} is {seen.get('availability', 'not retained')!r}, not 'online' "
                            f"(broker {args.mqtt_host}:{args.mqtt_port}: {seen['broker']})")
    finally:
        client.disconnect()
        client.loop_stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--unit", default="frd.service")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--settle", type=float, default=5)
    ap.add_argument("--no-mqtt", action="store_true", help="check the unit only")
    ap.add_argument("--topic", help="the availability topic, <base_topic>/<device_id>/availability")
    ap.add_argument("--mqtt-host", default="127.0.0.1")
    ap.add_argument("--mqtt-port", type=int, default=1883)
    ap.add_argument("--username")
    ap.add_argument("--password-file")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--ca-file")
    ap.add_argument("--cert-file")
    ap.add_argument("--key-file")
    ap.add_argument("--insecure", action="store_true")
    args = ap.parse_args(argv)
    if not args.no_mqtt and not args.topic:
        ap.error("--topic is required unless --no-mqtt")
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    seen: dict = {}
    try:
        p = wait_unit(args.unit, deadline, args.settle, seen)
        if not args.no_mqtt:
            wait_online(args, deadline, seen)
            after = show(args.unit)
            if after.get("MainPID") != p.get("MainPID") or after.get("ActiveState") != "active":
                seen["unit"] = after
                raise Unhealthy(f"{args.unit} main process changed while checking MQTT")
    except Unhealthy as e:
        print(json.dumps({"healthy": False, "reason": str(e), "seconds": round(time.monotonic() - t0, 1), **seen}))
        return 1
    print(json.dumps({"healthy": True, "seconds": round(time.monotonic() - t0, 1), **seen}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
