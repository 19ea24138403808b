"""sd_notify over a real unix datagram socket, as systemd would receive it."""

from __future__ import annotations

import signal
import socket
import threading
import time

from tests.daemon_helpers import FrdProcess, wait_until, write_config
from tests.waiting import notify_lines_after


class NotifySocket:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.got: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            for line in data.decode().splitlines():
                self.got.append((time.monotonic(), line))

    def lines(self, prefix):
        return [(t, m) for t, m in self.got if m.startswith(prefix)]

    def close(self):
        self._stop.set()
        self._t.join()
        self.sock.close()


def test_ready_status_watchdog_while_the_loops_run_and_stopping(tmp_path, broker, data):
    ns = NotifySocket(tmp_path / "notify.sock")
    clip = data / "video/short_hamilton_clip.mp4"
    env = {"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "1000000"}
    p = FrdProcess(write_config(tmp_path, broker, clip, loop=False), env=env).start()
    try:
        t0 = time.monotonic()
        assert wait_until(lambda: ns.lines("READY=1"), 30), p.log_text()
        ready_s = ns.lines("READY=1")[0][0] - t0
        assert wait_until(lambda: len(ns.lines("WATCHDOG=1")) >= 3, 15)
        status = wait_until(lambda: ns.lines("STATUS="), 10)
        assert "fps" in status[-1][1] and "people" in status[-1][1] and "broker" in status[-1][1]
        # the 275-frame clip plays in about 9 s, then the source has ended (loop off): the camera's reader has
        # finished, a loop of frd's that no longer runs, and the watchdog must starve
        assert wait_until(lambda: any("stage ended" in m for _, m in ns.lines("STATUS=")), 30), ns.got[-5:]
        ended = time.monotonic()
        notify_lines_after(ns, "STATUS=", ended + 0.5, 3, 15)  # the loop goes on (about 2 s) ...
        fed_after = [t for t, _ in ns.lines("WATCHDOG=1") if t > ended + 0.5]
        assert fed_after == [], "watchdog still fed although the camera's reader has finished"
        assert p.alive()
        p.signal(signal.SIGTERM)
        assert p.wait(15) == 0
        assert wait_until(lambda: ns.lines("STOPPING=1"), 5)
        print(f"READY after {ready_s:.2f} s")
    finally:
        p.stop()
        ns.close()


def test_sighup_reloads_with_reloading_then_ready(tmp_path, broker, data):
    ns = NotifySocket(tmp_path / "notify.sock")
    p = FrdProcess(write_config(tmp_path, broker, data / "video/short_hamilton_clip.mp4"),
                   env={"NOTIFY_SOCKET": ns.path}).start()
    try:
        assert wait_until(lambda: ns.lines("READY=1"), 30), p.log_text()
        p.signal(signal.SIGHUP)
        assert wait_until(lambda: ns.lines("RELOADING=1"), 10)
        assert wait_until(lambda: len(ns.lines("READY=1")) == 2, 10)
        assert p.alive()
    finally:
        p.stop()
        ns.close()


def test_with_cameras_as_processes_a_camera_away_keeps_the_watchdog_fed(tmp_path, broker, data):
    """Two cameras, each in a process of its own (the default with several): one streams, the other is away
    (its file missing). The away camera's process still sends its heartbeat, so the watchdog is fed all along;
    when its file appears, it streams."""
    from tests.broker import subscribe_collect

    ns = NotifySocket(tmp_path / "notify.sock")
    clip = data / "video/short_hamilton_clip.mp4"
    later = tmp_path / "later.mp4"
    cameras = [{"name": "stage", "source": str(clip), "loop": True, "fps_limit": 2},
               {"name": "yard", "source": str(later), "loop": True, "fps_limit": 2}]
    cfg = write_config(tmp_path, broker, clip, cameras=cameras, recognition={"camera_mode": "processes"})
    p = FrdProcess(cfg, env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "2000000"}).start()
    try:
        assert wait_until(lambda: ns.lines("READY=1"), 60), p.log_text()
        t0 = ns.lines("READY=1")[0][0]
        with subscribe_collect(broker.host, broker.port, ["frd/testdoor/status"]) as sub:
            st = sub.wait_for(lambda m: not m.retain and m.json()["cameras"]["yard"]["reconnects"] >= 3, 40).json()
        assert st["cameras"]["yard"]["state"] == "reconnecting" and st["errors"] == [], st
        fed = [t for t, _ in ns.lines("WATCHDOG=1") if t > t0]
        gaps = [b - a for a, b in zip([t0, *fed], [*fed, time.monotonic()], strict=True)]
        assert max(gaps) < 2.0, f"the watchdog went {max(gaps):.1f} s unfed while a camera was away"
        later.symlink_to(clip)
        with subscribe_collect(broker.host, broker.port, ["frd/testdoor/status"]) as sub:
            sub.wait_for(lambda m: not m.retain and m.json()["cameras"]["yard"]["state"] == "streaming", 30)
        assert p.alive()
    finally:
        p.stop()
        ns.close()
