"""A real mosquitto broker for tests, and small paho-mqtt helpers.

A fake broker would hide exactly the behaviour that matters (retained
messages, wills, reconnects), so tests run the real ``/usr/sbin/mosquitto``
on a free loopback port with its own config in a temporary directory.
Nothing here depends on pytest; ``tests/integration/test_topics.py`` shows fixture use.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

MOSQUITTO = Path(os.environ.get("FRD_MOSQUITTO", "/usr/sbin/mosquitto"))


def mosquitto_available() -> bool:
    """Whether the broker binary is installed (tests skip or fail on this, never hang)."""
    return MOSQUITTO.is_file() and os.access(MOSQUITTO, os.X_OK)


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on ``host`` (the kernel picks it, so parallel runs do not collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def terminate(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM (a service manager's orderly stop), SIGKILL if it has not exited within ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class Mosquitto:
    """One mosquitto process on 127.0.0.1; ``start()`` after ``stop()``/``kill()`` reuses the same port.

    ``persistence=True`` keeps retained messages across restarts (in the temp
    dir), as a production broker would; the default forgets them.
    """

    def __init__(self, *, port: int | None = None, persistence: bool = False, extra_conf: str = "") -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.persistence = persistence
        self.extra_conf = extra_conf
        self._tmp = Path(tempfile.mkdtemp(prefix="frd-mosquitto-"))
        self.conf_path = self._tmp / "mosquitto.conf"
        self.log_path = self._tmp / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_conf()

    def _write_conf(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            # Run as whoever runs the tests, so root does not drop to a user who cannot write the temp dir.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            f"log_dest file {self.log_path}",
            "log_type all",
            "connection_messages true",
            f"persistence {'true' if self.persistence else 'false'}",
        ]
        if self.persistence:
            lines += [f"persistence_location {self._tmp}/", "autosave_interval 1"]
        if self.extra_conf:
            lines.append(self.extra_conf)
        self.conf_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> Mosquitto:
        """Start (or restart) the broker and return once its port accepts connections."""
        if self.running:
            return self
        if not mosquitto_available():
            raise RuntimeError(f"{MOSQUITTO} not found: apt-get install -y mosquitto")
        deadline = time.monotonic() + timeout
        while True:
            self._proc = subprocess.Popen(
                [str(MOSQUITTO), "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    break
                if _port_open(self.host, self.port):
                    return self
                time.sleep(0.02)
            if self._proc.poll() is None:  # alive but never listened
                self.kill()
                raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout}s\n{self.log_text()}")
            # Exited: the port may still be in use by the previous instance's sockets; retry until the deadline.
            if time.monotonic() >= deadline:
                raise RuntimeError(f"mosquitto exited with {self._proc.returncode}\n{self.log_text()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 5.0) -> None:
        """Graceful stop (SIGTERM): like a broker restart by its service manager."""
        if self._proc is not None:
            terminate(self._proc, timeout)
        self._proc = None

    def kill(self) -> None:
        """Abrupt death (SIGKILL): clients see a dropped connection, no goodbye."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def close(self) -> None:
        """Stop and delete the temp dir (config, log, persistence)."""
        self.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no mosquitto log)"

    def __enter__(self) -> Mosquitto:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Mosquitto({self.host}:{self.port}, running={self.running})"


# ---------------------------------------------------------------- clients


@dataclass(frozen=True)
class Received:
    """One message as a test sees it (copied out of paho's object, which is reused)."""

    topic: str
    payload: bytes
    retain: bool
    qos: int

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.payload)


def _client(client_id: str | None, protocol: MQTTProtocolVersion) -> mqtt.Client:
    return mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"frd-test-{uuid.uuid4().hex[:8]}",
        protocol=protocol,
    )


def _connect(client: mqtt.Client, host: str, port: int, timeout: float) -> None:
    connected = threading.Event()
    failure: list[str] = []

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            failure.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not connected.wait(timeout) or failure:
        client.disconnect()
        client.loop_stop()
        raise TimeoutError(f"could not connect to {host}:{port}: {failure or 'timeout'}")


class Collector:
    """Thread-safe record of messages on subscribed topics, with waiting helpers."""

    def __init__(self, client: mqtt.Client) -> None:
        self._client = client
        self._cond = threading.Condition()
        self._messages: list[Received] = []

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self._messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), int(msg.qos)))
            self._cond.notify_all()

    @property
    def messages(self) -> list[Received]:
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 5.0) -> Received:
        """The first message (already received or arriving within ``timeout``) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for msg in self._messages[seen:]:
                    if predicate(msg):
                        return msg
                seen = len(self._messages)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    topics = sorted({m.topic for m in self._messages})
                    raise TimeoutError(f"no matching message within {timeout}s; got topics {topics}")
                self._cond.wait(remaining)

    def wait_for_topic(self, topic: str, timeout: float = 5.0) -> Received:
        return self.wait_for(lambda m: m.topic == topic, timeout)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def subscribe_collect(
    host: str,
    port: int,
    topics: str | Iterable[str],
    *,
    qos: int = 1,
    timeout: float = 5.0,
    client_id: str | None = None,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
) -> Collector:
    """Connect, subscribe and return once the broker acknowledged, so no later publish is missed."""
    wanted = [topics] if isinstance(topics, str) else list(topics)
    client = _client(client_id, protocol)
    collector = Collector(client)
    client.on_message = collector._on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *_args: subscribed.set()
    _connect(client, host, port, timeout)
    result, _mid = client.subscribe([(t, qos) for t in wanted])
    if result != mqtt.MQTT_ERR_SUCCESS or not subscribed.wait(timeout):
        collector.close()
        raise TimeoutError(f"subscribe to {wanted} not acknowledged within {timeout}s")
    return collector


def publish(
    host: str,
    port: int,
    topic: str,
    payload: str | bytes = b"",
    *,
    retain: bool = False,
    qos: int = 1,
    timeout: float = 5.0,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
) -> None:
    """Publish one message and return once the broker has it (QoS 1/2) or it was sent (QoS 0)."""
    client = _client(None, protocol)
    _connect(client, host, port, timeout)
    try:
        info = client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise TimeoutError(f"publish to {topic!r} not acknowledged within {timeout}s")
    finally:
        client.disconnect()
        client.loop_stop()


@contextlib.contextmanager
def running_broker(**kwargs: Any) -> Iterator[Mosquitto]:
    """``with running_broker() as b:`` -- for code that prefers a generator to the class."""
    with Mosquitto(**kwargs) as broker:
        yield broker
