"""Run the repository's ansible (ansible/site.yml, ansible-lint) from a controller venv made for the tests.

ansible-core and ansible-lint come from the lock (``requirements/fleet.txt``, hash-pinned: ``scripts/lock``
exports it from uv.lock's ``fleet`` group). The venv is built once and cached
outside the repository (``$FRD_FLEET_CACHE/ansible-<hash of the requirements>``), or taken from
``$FRD_ANSIBLE_VENV`` when that points at one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.fleet.rootfs import _locked, cache_root

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = ROOT / "ansible"
REQUIREMENTS = ROOT / "requirements/fleet.txt"

_RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


def ansible_venv() -> Path:
    """A venv with ansible-playbook and ansible-lint, created (a minute, once) if needed."""
    given = os.environ.get("FRD_ANSIBLE_VENV")
    if given:
        venv = Path(given)
        if not (venv / "bin/ansible-playbook").exists():
            raise RuntimeError(f"FRD_ANSIBLE_VENV={given} has no bin/ansible-playbook")
        return venv
    key = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    venv = cache_root() / f"ansible-{key}"
    marker = venv / ".frd-fleet-complete"
    if marker.is_file():
        return venv
    with _locked(cache_root() / ".ansible.lock"):
        if marker.is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        proc = subprocess.run(
            [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--require-hashes", "--no-deps",
             "--only-binary=:all:", "-r", str(REQUIREMENTS)],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
        )
        if proc.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(f"installing {REQUIREMENTS.name} failed:\n{proc.stdout}\n{proc.stderr}")
        marker.write_text(key + "\n")
    return venv


def controller_env(venv: Path, home: Path) -> dict[str, str]:
    """Environment for ansible commands: the venv first on PATH, no colours, state in ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update({
        "PATH": f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "NO_COLOR": "1",
        "PY_COLORS": "0",
    })
    return env


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    recap: dict[str, dict[str, int]]
    seconds: float

    def changed(self) -> dict[str, int]:
        return {host: counts.get("changed", 0) for host, counts in self.recap.items()}

    def failed(self) -> dict[str, int]:
        return {host: counts.get("failed", 0) + counts.get("unreachable", 0) for host, counts in self.recap.items()}

    def tail(self, chars: int = 6000) -> str:
        return self.output[-chars:]


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP counters per host (ok, changed, unreachable, failed, skipped, rescued, ignored)."""
    recap: dict[str, dict[str, int]] = {}
    lines = output.splitlines()
    try:
        start = max(i for i, line in enumerate(lines) if line.startswith("PLAY RECAP"))
    except ValueError:
        return recap
    for line in lines[start + 1:]:
        m = _RECAP.match(line.strip())
        if m:
            recap[m["host"]] = {k: int(v) for k, v in (kv.split("=") for kv in m["counts"].split())}
    return recap


def write_inventory(path: Path, hosts: dict[str, dict], group_vars: dict) -> Path:
    """A YAML (JSON is YAML) inventory with the hosts in group ``frd``."""
    inventory = {"all": {"children": {"frd": {"hosts": hosts, "vars": group_vars}}}}
    path.write_text(json.dumps(inventory, indent=2) + "\n", encoding="utf-8")
    return path


def run_playbook(venv: Path, home: Path, inventory: Path, *, extra_vars: dict | None = None,
                 log: Path | None = None, timeout: float = 1200, args: tuple[str, ...] = ()) -> PlaybookRun:
    import time

    cmd = [str(venv / "bin/ansible-playbook"), "-i", str(inventory), str(ANSIBLE_DIR / "site.yml"), *args]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ANSIBLE_DIR, env=controller_env(venv, home), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    seconds = time.monotonic() - t0
    output = proc.stdout + proc.stderr
    if log is not None:
        with log.open("a", encoding="utf-8") as fh:
            fh.write(f"\n\n===== {' '.join(cmd)}  (rc {proc.returncode}, {seconds:.0f}s)\n{output}")
    return PlaybookRun(proc.returncode, output, parse_recap(proc.stdout), seconds)


def run_lint(venv: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin/ansible-lint"), "--profile", "production", "--nocolor"],
        cwd=ANSIBLE_DIR, env=controller_env(venv, home), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=600, check=False,
    )
