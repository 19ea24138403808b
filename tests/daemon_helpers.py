"""Start ``frd run`` as a real subprocess against a test broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.broker import terminate

DEVICE = "testdoor"


def write_config(tmp: Path, broker, source: Path | str, loop: bool = True, **extra) -> Path:
    cfg = {
        "device_id": DEVICE,
        "log_level": "info",
        "mqtt": {"host": broker.host, "port": broker.port, "base_topic": "frd"},
        "cameras": [{"name": "stage", "source": str(source), "loop": loop}],
        "gallery": {"path": str(tmp / "gallery")},
        "homeassistant": {"discovery": True, "prefix": "homeassistant"},
        "status_interval_s": 1,
    }
    for key, value in extra.items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    path = tmp / "frd.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class FrdProcess:
    def __init__(self, config: Path, env: dict | None = None, preexec_fn=None) -> None:
        """``preexec_fn``: run in the child before frd starts (tests/memory.py puts it in a memory cgroup)."""
        self.config = config
        self.log = config.parent / "frd.log"
        self._env = {**os.environ, **(env or {})}
        self._preexec = preexec_fn
        self.proc: subprocess.Popen | None = None

    def start(self) -> FrdProcess:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edged", "run", "-c", str(self.config)],
                stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL, env=self._env,
                preexec_fn=self._preexec,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait()

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, 15)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def wait_until(pred, timeout: float, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def fleet_keys(folder: Path, devices: list[str]) -> dict[str, tuple[Path, str]]:
    """An Ed25519 signing key file (0600, PEM) and the base64 public key per device, as an admin makes them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out = {}
    for device in devices:
        key = Ed25519PrivateKey.generate()
        path = folder / f"{device}.fleet_key.pem"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        import base64

        out[device] = (path, base64.b64encode(raw).decode())
    return out


def fleet_config(keys: dict[str, tuple[Path, str]], device: str, trusted: list[str] | None = None,
                 authority: list[str] | None = None) -> dict:
    """``fleet:`` of ``device``: sync on, its own key, and the public keys of ``trusted`` (default: all)."""
    cfg: dict = {"sync": True, "trusted_keys": {d: [keys[d][1]] for d in (trusted or list(keys))}}
    if device in keys:
        cfg["signing_key_file"] = str(keys[device][0])
    if authority:
        cfg["authority_keys"] = authority
    return cfg
