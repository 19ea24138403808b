"""What the fleet tiers share (``tests/test_fleet.py``, ``tests/test_arm64.py``): the booted fleet and its
helpers, the prerequisites, and the pieces of the module fixture that set up a host, a key and an inventory."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.broker import Mosquitto, mosquitto_available, publish, subscribe_collect
from tests.fleet.ansible import PlaybookRun, run_playbook
from tests.fleet.machine import Host
from tests.fleet.rootfs import cache_root

#: Where the role installs frd on a host.
PREFIX = "/opt/frd"
#: Tools every tier needs on this machine.
TOOLS = ("systemd-nspawn", "debootstrap", "nsenter", "ssh", "ssh-keygen")


def unavailable(msg: str, tier: str) -> None:
    """Skip, or fail when ``FRD_REQUIRE_DATA=1`` says the tier must run."""
    if os.environ.get("FRD_REQUIRE_DATA") == "1":
        pytest.fail(f"{msg} (FRD_REQUIRE_DATA=1 requires the {tier} tier)")
    pytest.skip(msg)


def check_prerequisites(tier: str, root_for: str, extra_tools: tuple[str, ...] = ()) -> None:
    """Root, the tools and mosquitto; ``root_for`` says in the skip message why root is needed."""
    if os.geteuid() != 0:
        unavailable(f"the {tier} tier needs root ({root_for})", tier)
    tools = TOOLS[:2] + extra_tools + TOOLS[2:]
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        unavailable(f"missing {', '.join(missing)} (apt-get install systemd-container debootstrap openssh-client)",
                    tier)
    if not mosquitto_available():
        unavailable("mosquitto is not installed (apt-get install mosquitto)", tier)


def ca_bundle() -> Path | None:
    """The CA bundle this machine's pip trusts, so the hosts reach PyPI the same way (e.g. through a proxy)."""
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"),
                      "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def ssh_key(work: Path, comment: str) -> Path:
    """A fresh passwordless ed25519 key for the controller (``.pub`` beside it)."""
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)], check=True)
    return key


def pip_cache_bind() -> str:
    """The nspawn bind of this machine's pip cache, shared by every host (wheels download once)."""
    pip_cache = cache_root() / "pip"
    pip_cache.mkdir(parents=True, exist_ok=True)
    return f"{pip_cache}:/root/.cache/pip"


def provision(host: Host, files: dict[str, Path], ca: Path | None) -> None:
    """Before boot: copy ``{path in host: file}`` (world-readable) and make pip trust ``ca``."""
    for inside, src in files.items():
        dest = host.root / inside.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        dest.chmod(0o644)
    if ca is not None:
        shutil.copyfile(ca, host.root / "etc/frd-fleet-ca.crt")
        (host.root / "etc/pip.conf").write_text("[global]\ncert = /etc/frd-fleet-ca.crt\n")


def inventory_vars(key: Path, broker: Mosquitto, connect_timeout: int) -> dict:
    """The inventory's group variables every tier sets: how to reach the hosts, and the broker."""
    return {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                   f"-o IdentitiesOnly=yes -o ConnectTimeout={connect_timeout}",
        "ansible_python_interpreter": "/usr/bin/python3",
        "frd_mqtt_host": broker.host,
        "frd_mqtt_port": broker.port,
    }


def controller_home(work: Path) -> Path:
    """A HOME of its own for ansible (its tmp inside), so nothing of the user's leaks into the runs."""
    home = work / "ansible-home"
    (home / "tmp").mkdir(parents=True)
    return home


@dataclass
class Fleet:
    hosts: dict[str, Host]
    broker: Mosquitto
    venv: Path
    home: Path
    inventory: Path
    wheels: dict[str, Path]
    log: Path
    command_key: bytes
    timings: dict[str, float] = field(default_factory=dict)
    #: Why the first rollout failed (None: it did not, or has not run), and whether a test has said so yet.
    rollout_failure: str | None = None
    rollout_failure_told: bool = False
    #: A network camera one host reads (``tests/fleet/camera.py``), when the tier has one.
    camera: Any = None

    def version(self, key: str) -> str:
        return self.wheels[key].name.split("-")[1]

    def playbook(self, key: str, label: str, *args: str, timeout: float = 1200, **extra: object) -> PlaybookRun:
        run = run_playbook(self.venv, self.home, self.inventory, log=self.log, args=args, timeout=timeout,
                           extra_vars={"frd_wheel": str(self.wheels[key]), **extra})
        self.timings[label] = round(run.seconds, 1)
        return run

    def retained(self, topic: str, timeout: float = 5.0) -> str:
        with subscribe_collect(self.broker.host, self.broker.port, topic) as sub:
            return sub.wait_for_topic(topic, timeout).text

    def availability(self, name: str) -> str:
        return self.retained(f"frd/{name}/availability")

    def wait_online(self, name: str, timeout: float = 60.0) -> None:
        with subscribe_collect(self.broker.host, self.broker.port, f"frd/{name}/availability") as sub:
            sub.wait_for(lambda m: m.text == "online", timeout)

    def command(self, name: str, command: str, payload: bytes = b"", timeout: float = 60.0,
                signed: bool = True) -> dict:
        """Send frd a command over MQTT (signed with the fleet's command key) and return its reply."""
        from edged.mqtt.security import sign

        reply_topic = f"frd/{name}/reply/{command.split('/')[0]}"
        topic = f"frd/{name}/cmd/{command}"
        body = sign(self.command_key, topic, payload).encode() if signed else payload
        with subscribe_collect(self.broker.host, self.broker.port, reply_topic) as sub:
            publish(self.broker.host, self.broker.port, topic, body)
            return sub.wait_for_topic(reply_topic, timeout).json()

    def diagnostics(self) -> str:
        parts = [f"playbook log: {self.log}"]
        for name, host in self.hosts.items():
            with contextlib.suppress(Exception):
                parts.append(f"--- {name}: frd journal\n{host.journal()}")
        return "\n".join(parts)


def first_rollout(fleet: Fleet, host_names: tuple[str, ...]) -> None:
    """Roll release v1 out to every host; a failure is kept on the fleet for :func:`require_deployed`."""
    try:  # an emulated host on a machine busy with other work can take long: time enough, and a clear failure
        run = fleet.playbook("v1", "first rollout", timeout=2100)
    except subprocess.TimeoutExpired as e:
        fleet.rollout_failure = f"first rollout: no end within {e.timeout:.0f} s\n{fleet.diagnostics()}"
        return
    if run.returncode != 0 or set(run.recap) != set(host_names):
        fleet.rollout_failure = (f"first rollout failed (rc {run.returncode}, recap {run.recap}):\n{run.tail()}\n"
                                 f"{fleet.diagnostics()}")


def require_deployed(fleet: Fleet) -> Fleet:
    """The fleet, if the first rollout succeeded. Otherwise fail: with the whole log for the first test
    that asks, and one line for each test after it (the same log printed for every test hid the rest)."""
    if fleet.rollout_failure is None:
        return fleet
    if fleet.rollout_failure_told:
        pytest.fail(f"the first rollout failed: its log is with the first failing test of this tier and in "
                    f"{fleet.log}", pytrace=False)
    fleet.rollout_failure_told = True
    pytest.fail(fleet.rollout_failure, pytrace=False)


def current(host: Host) -> str:
    """The release the ``current`` link points at."""
    return host.run(["readlink", f"{PREFIX}/current"]).stdout.strip()


def healthy(fleet: Fleet, name: str) -> dict[str, str]:
    """Assert the unit is active with frd's status text and the broker has it online; return the unit state."""
    host = fleet.hosts[name]
    unit = host.unit("frd", "ActiveState", "SubState", "StatusText", "MainPID", "NRestarts")
    assert unit["ActiveState"] == "active" and unit["SubState"] == "running", (unit, fleet.diagnostics())
    assert unit["StatusText"], f"frd has not set its status text: {unit}"
    assert fleet.availability(name) == "online"
    return unit
