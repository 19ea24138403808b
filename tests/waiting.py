"""Waiting for what happened instead of sleeping: broker markers, live status, MQTT 5 replies.

A fixed sleep is either too short on a busy machine (a flaky test) or too long everywhere (a slow
one). Each helper here returns as soon as an observed condition holds, and fails with what it saw
once its deadline passes.

- :func:`marker` / :func:`retained`: a broker delivers one subscriber's messages in order, so once a
  marker published *now* has arrived, everything the broker held for that subscriber before it has
  arrived too (retained messages, queued session messages, duplicates).
- :func:`frames_flowed`: frd's live status counts processed frames per camera; frames that were in
  flight at some moment are done once the count has moved on.
- :func:`notify_lines_after`: the daemon's loop keeps announcing STATUS= to systemd while it must not
  feed the watchdog, so "no watchdog for a while" is measured over status lines that did arrive.
- :class:`Mqtt5Client`: requests with MQTT 5 correlation data and the replies recorded with theirs.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.broker import publish, subscribe_collect

MARKER_PREFIX = "frd-test/marker"


def marker(broker: Any, seen: Callable[[str], bool], topic: str | None = None, timeout: float = 10.0) -> str:
    """Publish a unique marker and return its topic once ``seen(topic)`` says it arrived."""
    topic = topic or f"{MARKER_PREFIX}/{uuid.uuid4().hex}"
    publish(broker.host, broker.port, topic, b"marker")
    deadline = time.monotonic() + timeout
    while not seen(topic):
        assert time.monotonic() < deadline, f"marker {topic} did not come back within {timeout} s"
        time.sleep(0.02)
    return topic


def retained(broker: Any, topics: str | list[str] = "#", timeout: float = 10.0) -> dict[str, bytes]:
    """Every retained message the broker holds on ``topics`` (delivered on subscribe, before the marker)."""
    wanted = [topics] if isinstance(topics, str) else list(topics)
    with subscribe_collect(broker.host, broker.port, [*wanted, f"{MARKER_PREFIX}/#"]) as sub:
        marker(broker, lambda t: any(m.topic == t for m in sub.messages), timeout=timeout)
        return {m.topic: m.payload for m in sub.messages if m.retain}


def frames_flowed(broker: Any, status_topic: str, camera: str, more: int = 5, timeout: float = 30.0) -> int:
    """Wait until ``camera`` processed ``more`` frames beyond the first live status seen now; returns the count.

    Whatever was in flight when this is called has gone through the pipeline by then.
    """
    with subscribe_collect(broker.host, broker.port, [status_topic]) as sub:
        deadline = time.monotonic() + timeout
        start: int | None = None
        seen = 0
        while True:
            live = [m for m in sub.messages if not m.retain]
            for m in live[seen:]:
                frames = int(json.loads(m.payload)["cameras"][camera]["frames"])
                if start is None:
                    start = frames
                elif frames >= start + more:
                    return frames
            seen = len(live)
            assert time.monotonic() < deadline, f"{camera}: fewer than {more} frames after {start} in {timeout} s"
            time.sleep(0.05)


def notify_lines_after(ns: Any, prefix: str, t: float, count: int, timeout: float) -> list[tuple[float, str]]:
    """Wait for ``count`` sd_notify lines starting with ``prefix`` received after monotonic time ``t``."""
    deadline = time.monotonic() + timeout
    while True:
        got = [(at, line) for at, line in ns.lines(prefix) if at > t]
        if len(got) >= count:
            return got
        assert time.monotonic() < deadline, f"only {len(got)} {prefix!r} lines after {timeout} s"
        time.sleep(0.05)


@dataclass(frozen=True)
class Reply:
    """One message an :class:`Mqtt5Client` received, with its MQTT 5 correlation data (None if absent)."""

    topic: str
    payload: bytes
    correlation: bytes | None

    def json(self) -> Any:
        return json.loads(self.payload)


class Mqtt5Client:
    """An MQTT 5 client that publishes with properties and records every message with its correlation data.

    ``with Mqtt5Client(broker, ["frd/dev/reply/#"]) as c: c.publish(topic, b"", correlation=b"1")``; the
    subscription is acknowledged before the constructor returns, so no reply is missed.
    """

    def __init__(self, broker: Any, topics: list[str], timeout: float = 10.0) -> None:
        self.messages: list[Reply] = []
        self._cond = threading.Condition()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"frd-test-{uuid.uuid4().hex[:8]}",
                        protocol=mqtt.MQTTv5)
        up, subscribed = threading.Event(), threading.Event()
        c.on_connect = lambda *_a: up.set()
        c.on_subscribe = lambda *_a: subscribed.set()
        c.on_message = self._on_message
        c.connect(broker.host, broker.port)
        c.loop_start()
        self.client = c
        try:
            assert up.wait(timeout), "MQTT 5 client did not connect"
            c.subscribe([(t, 1) for t in topics])
            assert subscribed.wait(timeout), f"subscription to {topics} not acknowledged"
        except BaseException:
            self.close()
            raise

    def _on_message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        corr = getattr(m.properties, "CorrelationData", None) if m.properties is not None else None
        with self._cond:
            self.messages.append(Reply(m.topic, bytes(m.payload), None if corr is None else bytes(corr)))
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes, correlation: bytes | None = None, wait: float | None = None,
                retain: bool = False, **properties: Any) -> mqtt.MQTTMessageInfo:
        """Publish at QoS 1 with ``correlation`` and any other PUBLISH ``properties`` (ResponseTopic=…)."""
        props = Properties(PacketTypes.PUBLISH)
        for k, v in properties.items():
            setattr(props, k, v)
        if correlation is not None:
            props.CorrelationData = correlation
        info = self.client.publish(topic, payload, qos=1, retain=retain, properties=props)
        if wait is not None:
            info.wait_for_publish(wait)
        return info

    def wait(self, predicate: Callable[[list[Reply]], bool], timeout: float) -> bool:
        """Whether ``predicate(messages so far)`` became true within ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.messages), timeout)

    def wait_for(self, predicate: Callable[[Reply], bool], timeout: float) -> Reply:
        """The first message satisfying ``predicate`` (already received or arriving within ``timeout``)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: any(predicate(m) for m in self.messages), timeout)
            assert ok, f"no matching message within {timeout} s; got {[m.topic for m in self.messages]}"
            return next(m for m in self.messages if predicate(m))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Mqtt5Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
