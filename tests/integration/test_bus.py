"""The MQTT bus against real brokers: protocol choice and fallback."""

import threading

from edged.core.topics import Topics
from edged.mqtt.bus import Bus, BusSettings
from edged.tools.demo import broker as demo_broker
from tests.broker import subscribe_collect
from tests.daemon_helpers import wait_until


def _bus(port, protocol, keepalive=5):
    connected = threading.Event()
    bus = Bus(BusSettings("127.0.0.1", port, "bus-test", keepalive=keepalive, protocol=protocol),
              Topics("frd", "bustest"), lambda m: None, connected.set)
    return bus, connected


def test_auto_uses_mqtt5_with_mosquitto_and_publishes_online(broker):
    bus, connected = _bus(broker.port, "auto")
    with subscribe_collect(broker.host, broker.port, ["frd/bustest/availability"]) as sub:
        bus.start()
        try:
            assert connected.wait(10)
            assert bus.protocol == "5"
            assert sub.wait_for(lambda m: m.text == "online", 10)
            with subscribe_collect(broker.host, broker.port, ["frd/bustest/availability"]) as late:
                assert late.wait_for(lambda m: True, 10).retain  # a late subscriber still learns it
        finally:

            bus.stop()
        assert sub.wait_for(lambda m: m.text == "offline", 10)


def test_auto_falls_back_to_311_with_a_broker_that_only_speaks_311(tmp_path):
    with demo_broker("embedded", tmp_path) as (port, name):
        assert "amqtt" in name
        bus, connected = _bus(port, "auto")
        bus.start()
        try:
            assert wait_until(connected.is_set, 60, step=0.2), "never connected"
            assert bus.protocol == "3.1.1"
        finally:
            bus.stop()
