"""Topic layout, segment validation, and the test broker itself (a real mosquitto round trip)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from edged.core.topics import AVAILABLE, Topics
from tests.broker import Mosquitto, mosquitto_available, publish, subscribe_collect


@pytest.fixture
def t() -> Topics:
    return Topics("frd", "door", "homeassistant")


# ---------------------------------------------------------------- the test broker


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    if not mosquitto_available():
        if os.environ.get("CI"):
            pytest.fail("mosquitto is not installed (apt-get install -y mosquitto)")
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
    with Mosquitto() as b:
        yield b


def test_broker_round_trips_retained_message(broker: Mosquitto, t: Topics) -> None:
    # Published before anyone subscribes: only a retained message can reach the subscriber.
    publish(broker.host, broker.port, t.availability, AVAILABLE, retain=True, qos=1)
    with subscribe_collect(broker.host, broker.port, [t.base + "/#"]) as sub:
        got = sub.wait_for_topic(t.availability, timeout=5)
        assert got.text == AVAILABLE
        assert got.retain is True
        # A live (non-retained) message arrives too, flagged as not retained.
        publish(broker.host, broker.port, t.event, '{"event_type": "unknown"}', qos=1)
        live = sub.wait_for(lambda m: m.topic == t.event, timeout=5)
        assert live.json() == {"event_type": "unknown"} and live.retain is False
    # An empty retained payload clears it (how discovery removal works).
    publish(broker.host, broker.port, t.availability, b"", retain=True)
    with subscribe_collect(broker.host, broker.port, t.availability) as sub, pytest.raises(TimeoutError):
        sub.wait_for_topic(t.availability, timeout=0.5)


def test_broker_restarts_on_same_port() -> None:
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed")
    with Mosquitto(persistence=True) as b:
        port = b.port
        publish(b.host, b.port, "frd/x/status", "kept", retain=True)
        b.stop()
        assert not b.running
        b.start()
        assert b.port == port and b.running
        with subscribe_collect(b.host, b.port, "frd/x/status") as sub:
            assert sub.wait_for_topic("frd/x/status").text == "kept"
        b.kill()
        b.start()
        publish(b.host, b.port, "frd/x/event", "after kill")
