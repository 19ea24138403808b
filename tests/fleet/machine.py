"""Boot throw-away Debian hosts with systemd-nspawn and talk to them.

Each :class:`Host` is a full copy (``cp -a --reflink=auto``) of the cached template root with its own
hostname, machine-id, SSH key and sshd port. The hosts share this machine's network namespace (that is
what works here), so each sshd listens on its own loopback port and everything the hosts publish goes
to brokers on 127.0.0.1. Commands run inside through ``nsenter`` into the namespaces of the host's
systemd (PID 1 inside), and over SSH for ansible.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from tests.broker import _port_open

NSPAWN_ENV = {"SYSTEMD_NSPAWN_API_VFS_WRITABLE": "1"}
#: Commands inside a host get a clean environment, not this process's (whose PIP_*/SSL_* point at our files).
HOST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root",
            "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}


class HostError(RuntimeError):
    pass


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _registry() -> Path:
    from tests.fleet.rootfs import cache_root

    return cache_root() / "running"


def _start_time(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat): with the pid, it names one process for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _owner_alive(info: dict) -> bool:
    """Whether the test run that booted a registered host is still running (a pid alone could be reused)."""
    owner = info.get("owner")
    return owner is not None and _start_time(int(owner)) == info.get("owner_start")


def reap_stale() -> list[str]:
    """Stop hosts that an earlier, killed test run left running, and delete their copies.

    A host whose run is still alive is left alone: two suites may run side by side on one machine
    (the registry is shared, through the cache folder)."""
    reaped = []
    registry = _registry()
    for entry in registry.glob("*.json") if registry.is_dir() else []:
        with contextlib.suppress(Exception):
            info = json.loads(entry.read_text())
            if _owner_alive(info):
                continue
            pid = int(info["pid"])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else b""
            if b"systemd-nspawn" in cmdline and info["dir"].encode() in cmdline:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, sig)
                    time.sleep(2)
            Host._unmount_below(Path(info["dir"]))
            shutil.rmtree(info["dir"], ignore_errors=True)
            reaped.append(info["dir"])
        entry.unlink(missing_ok=True)
    return reaped


class Host:
    """One nspawn-booted Debian host; ``boot()`` it, ``run()`` commands in it, ``close()`` removes it all."""

    def __init__(self, name: str, template: Path, workdir: Path, ssh_port: int, pubkey: str,
                 binds: Sequence[str] = (), nspawn_args: Sequence[str] = ()) -> None:
        self.name = name
        self.nspawn_args = list(nspawn_args)
        self.template = template
        self.dir = workdir / name
        self.root = self.dir / "root"
        self.ssh_port = ssh_port
        self.pubkey = pubkey
        self.binds = list(binds)
        self.log_path = self.dir / "console.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader: int | None = None
        self._pidfile: Path | None = None

    # ---------------------------------------------------------------- set-up
    def prepare(self) -> Host:
        """Copy the template and give the copy its identity (before boot)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--reflink=auto", str(self.template), str(self.root)], check=True)
        etc = self.root / "etc"
        (etc / "hostname").write_text(self.name + "\n")
        (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
        (etc / "hosts").write_text(
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{self.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        )
        sshd = etc / "ssh/sshd_config.d"
        sshd.mkdir(parents=True, exist_ok=True)
        (sshd / "frd-fleet.conf").write_text(
            f"Port {self.ssh_port}\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nUseDNS no\n"
        )
        ssh_dir = self.root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(self.pubkey.strip() + "\n")
        os.chmod(ssh_dir / "authorized_keys", 0o600)
        return self

    def boot(self, timeout: float = 120.0, ssh_key: Path | None = None) -> Host:
        """Start systemd in the copy and wait until it finished booting and sshd listens; with ``ssh_key``,
        until that key logs in (the port being open could be anyone's)."""
        cmd = ["systemd-nspawn", "--register=no", "--keep-unit", "-D", str(self.root), "--boot",
               f"--machine={self.name}", *(f"--bind={b}" for b in self.binds), *self.nspawn_args]
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, **NSPAWN_ENV}, start_new_session=True)
        finally:
            log.close()
        registry = _registry()
        registry.mkdir(parents=True, exist_ok=True)
        self._pidfile = registry / f"{self.name}-{self.proc.pid}.json"
        me = os.getpid()
        self._pidfile.write_text(json.dumps({"pid": self.proc.pid, "dir": str(self.dir), "owner": me,
                                             "owner_start": _start_time(me)}))
        deadline = time.monotonic() + timeout
        while self.leader is None:
            self._check_alive()
            self.leader = self._find_leader()
            if self.leader is None:
                if time.monotonic() > deadline:
                    raise HostError(f"{self.name}: no systemd inside after {timeout}s\n{self.console()}")
                time.sleep(0.1)
        while True:
            self._check_alive()
            state = self.run(["systemctl", "is-system-running"], check=False).stdout.strip()
            if state in ("running", "degraded") and _port_open("127.0.0.1", self.ssh_port) and (
                    ssh_key is None or self.ssh_login(ssh_key)):
                break
            if time.monotonic() > deadline:
                failed = self.run(["systemctl", "--failed", "--no-legend"], check=False).stdout
                raise HostError(f"{self.name}: boot not finished after {timeout}s (state {state!r}, "
                                f"ssh {self.ssh_port}); failed units:\n{failed}\n{self.console()}")
            time.sleep(0.3)
        return self

    def ssh_login(self, key: Path) -> bool:
        """Whether ``key`` logs in as root over the host's sshd and finds this host's hostname."""
        proc = subprocess.run(
            ["ssh", "-i", str(key), "-p", str(self.ssh_port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
             "-o", "LogLevel=ERROR", "root@127.0.0.1", "hostname"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30, check=False)
        return proc.returncode == 0 and proc.stdout.strip() == self.name

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise HostError(f"{self.name}: systemd-nspawn exited with {self.proc.returncode}\n{self.console()}")

    def _find_leader(self) -> int | None:
        """PID (on this machine) of the host's init: the descendant of nspawn running systemd."""
        if self.proc is None:
            return None
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            for child in _children(pid):
                if _comm(child) == "systemd":
                    return child
                todo.append(child)
        return None

    # ---------------------------------------------------------------- use
    def run(self, argv: Sequence[str] | str, *, check: bool = True, timeout: float = 120.0,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside the host (all its namespaces, its root); a string goes to ``sh -c``."""
        if self.leader is None:
            raise HostError(f"{self.name} is not running")
        args = ["sh", "-c", argv] if isinstance(argv, str) else list(argv)
        proc = subprocess.run(["nsenter", "-t", str(self.leader), "-a", *args], capture_output=True, text=True,
                              env=HOST_ENV, timeout=timeout, input=input_text,
                              stdin=None if input_text else subprocess.DEVNULL, check=False)
        if check and proc.returncode != 0:
            raise HostError(f"{self.name}: {shlex.join(args)} exited with {proc.returncode}\n"
                            f"{proc.stdout}{proc.stderr}")
        return proc

    def unit(self, unit: str, *props: str) -> dict[str, str]:
        """``systemctl show -p ...`` as a dict."""
        out = self.run(["systemctl", "show", unit, *(f"-p{p}" for p in props)]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit: str = "frd", lines: int = 80) -> str:
        return self.run(["journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "short-monotonic"],
                        check=False).stdout

    def console(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    # ---------------------------------------------------------------- tear-down
    def shutdown(self, timeout: float = 30.0) -> None:
        """Power the host off cleanly; escalate to signals if it does not go."""
        if self.proc is None:
            return
        if self.proc.poll() is None and self.leader is not None:
            with contextlib.suppress(Exception):
                self.run(["systemctl", "poweroff", "--no-block"], check=False, timeout=10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        self.proc = None
        self.leader = None
        if self._pidfile is not None:
            self._pidfile.unlink(missing_ok=True)
            self._pidfile = None

    def close(self) -> None:
        """Shut down, unmount anything left below the copy, and delete it."""
        self.shutdown()
        self._unmount_below(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _unmount_below(path: Path) -> None:
        prefix = str(path.resolve()) + "/"
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for mnt in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
            subprocess.run(["umount", "-l", mnt], check=False, capture_output=True)
