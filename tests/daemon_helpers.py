"""Start ``frd run`` as a real subprocess against a test broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

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
    def __init__(self, config: Path, env: dict | None = None) -> None:
        self.config = config
        self.log = config.parent / "frd.log"
        self._env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> FrdProcess:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edged", "run", "-c", str(self.config)],
                stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL, env=self._env,
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
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()

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
