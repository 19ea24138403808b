"""A real Home Assistant for tests: its own config dir, HTTP port and MQTT broker, driven over REST.

Home Assistant pins its own libraries (paho-mqtt 1.x among them), so it lives in a virtualenv of its
own that ``scripts/test`` installs from ``tests/homeassistant.lock`` (2024.1, the last
release that runs on Python 3.11), never in frd's. It starts with ``--skip-pip``: what its
integrations need is installed with it, nothing is fetched while a test runs. Only what the tests
need is configured: ``http``, ``api``, ``onboarding`` (the documented way to a user and an access
token), ``image``, and ``mqtt`` as a config entry written before the start (MQTT can no longer be
set up from YAML) pointing at the test broker. Nothing here depends on pytest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.broker import free_port, terminate

REQUIREMENTS = Path(__file__).with_name("homeassistant.lock")  # hash-pinned, from homeassistant-requirements.txt
HA_VERSION = re.search(r"^homeassistant==(\S+)", REQUIREMENTS.read_text(encoding="utf-8"), re.MULTILINE)[1]
MARKER = ".frd-installed"  # written last by scripts/test: the sha256 of the lock it installed


def ha_venv() -> Path:
    """Where ``scripts/test`` installs Home Assistant (``FRD_HA_VENV``: one installed by other means)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("FRD_HA_VENV") or cache / "frd" / f"homeassistant-{HA_VERSION}")


def ha_missing() -> str | None:
    """Why Home Assistant cannot run here, or None when it can."""
    venv = ha_venv()
    if not (venv / "bin" / "hass").is_file():
        return f"Home Assistant {HA_VERSION} is not installed in {venv} (./scripts/test installs it)"
    if not os.environ.get("FRD_HA_VENV"):
        want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
        marker = venv / MARKER
        if not marker.is_file() or marker.read_text(encoding="utf-8").strip() != want:
            return (f"Home Assistant in {venv} is not a complete install of {REQUIREMENTS.name} "
                    "(./scripts/test installs it again)")
    return None


def _entry(broker_host: str, broker_port: int) -> dict[str, Any]:
    return {
        "entry_id": "frdtestmqtt0000000000000000000000",
        "version": 1,
        "minor_version": 1,
        "domain": "mqtt",
        "title": f"{broker_host}:{broker_port}",
        "data": {"broker": broker_host, "port": broker_port, "discovery": True},
        "options": {},
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "unique_id": None,
        "disabled_by": None,
    }


class HomeAssistant:
    """One ``hass`` process on 127.0.0.1; ``start()`` returns once it serves HTTP and holds a token."""

    def __init__(self, broker_host: str, broker_port: int, extra_config: str = "") -> None:
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self.url = f"http://{self.host}:{self.port}"
        self.config_dir = Path(tempfile.mkdtemp(prefix="frd-hass-"))
        self.log_path = self.config_dir / "home-assistant.log"
        self.token: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_config(broker_host, broker_port, extra_config)

    def _write_config(self, broker_host: str, broker_port: int, extra_config: str) -> None:
        (self.config_dir / "configuration.yaml").write_text(
            "homeassistant:\n"
            "  name: frd test\n"
            "  latitude: 0\n  longitude: 0\n  elevation: 0\n"
            "  unit_system: metric\n  time_zone: UTC\n  currency: EUR\n  country: DE\n"
            f"http:\n  server_host: {self.host}\n  server_port: {self.port}\n"
            "api:\nonboarding:\nimage:\n"
            "logger:\n  default: info\n" + extra_config,
            encoding="utf-8",
        )
        storage = self.config_dir / ".storage"
        storage.mkdir()
        entries = {"version": 1, "minor_version": 1, "key": "core.config_entries",
                   "data": {"entries": [_entry(broker_host, broker_port)]}}
        (storage / "core.config_entries").write_text(json.dumps(entries), encoding="utf-8")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 180.0) -> HomeAssistant:
        """Start, wait for the HTTP server, onboard a user and keep its access token."""
        hass = ha_venv() / "bin" / "hass"
        with open(self.config_dir / "hass.stdout", "ab") as out:
            self._proc = subprocess.Popen(
                [str(hass), "--config", str(self.config_dir), "--skip-pip", "--log-no-color"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise RuntimeError(f"Home Assistant exited with {self._proc.returncode}\n{self.log_tail()}")
            try:
                status, _ = self.request("GET", "/api/onboarding", auth=False)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Home Assistant did not serve HTTP within {timeout}s\n{self.log_tail()}")
            time.sleep(0.5)
        self._onboard()
        return self

    def _onboard(self) -> None:
        client_id = f"{self.url}/"
        status, body = self.request("POST", "/api/onboarding/users", auth=False, json_body={
            "client_id": client_id, "name": "frd test", "username": "frd", "password": "frd-test-password",
            "language": "en"})
        if status != 200:
            raise RuntimeError(f"onboarding refused the user: {status} {body[:300]!r}")
        code = json.loads(body)["auth_code"]
        form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "client_id": client_id})
        status, body = self.request("POST", "/auth/token", auth=False, form=form.encode())
        if status != 200:
            raise RuntimeError(f"no access token: {status} {body[:300]!r}")
        self.token = json.loads(body)["access_token"]

    def request(self, method: str, path: str, *, auth: bool = True, json_body: Any = None,
                form: bytes | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
        """(status, body) of one HTTP request; an HTTP error status is returned, not raised."""
        headers: dict[str, str] = {}
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = form
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def states(self) -> dict[str, dict[str, Any]]:
        """Every entity's state by entity id (``/api/states``)."""
        status, body = self.request("GET", "/api/states")
        if status != 200:
            raise RuntimeError(f"/api/states: {status} {body[:300]!r}")
        return {s["entity_id"]: s for s in json.loads(body)}

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no Home Assistant log)"

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (Home Assistant's orderly stop), SIGKILL if it hangs."""
        if self._proc is not None:
            terminate(self._proc, timeout)
        self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.config_dir, ignore_errors=True)

    def __enter__(self) -> HomeAssistant:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
