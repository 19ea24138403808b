"""Several cameras: as threads, and as processes (the default).

As threads: the daemon's own ``run`` with two cameras, in process. Real parts throughout (model, detector,
people service, command thread, each camera's thread and its own interpreter); tests/fakebus.py's bus and
frame lists stand in for the broker and the cameras, so that which frames each camera sees does not depend
on how busy the machine is. The spec for two cameras is one camera: each camera's events are exactly those a
single camera gives on the same frames with the same gallery changes between the same two frames.

As processes: ``frd run`` as a subprocess with a real mosquitto, two cameras reading the real clip, each in
a child process of its own; the children are found in /proc.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edged.config import parse_config
from edged.daemon.app import build_daemon, open_people
from edged.vision.camera import CameraReader, read_video
from tests.broker import publish, subscribe_collect
from tests.daemon_helpers import DEVICE as PDEVICE
from tests.daemon_helpers import FrdProcess, wait_until, write_config
from tests.fakebus import FakeBus, FrameList

DEVICE = "hall"
BASE = f"frd/{DEVICE}"
LIN = "lin_manuel_miranda"


@pytest.fixture(scope="module")
def frames(data):
    return [f.rgb for f in read_video(str(data / "video/short_hamilton_clip.mp4"))]


@pytest.fixture
def lin(data):
    return (data / "video/enroll/lin_manuel_miranda_1.png").read_bytes()


@pytest.fixture
def obama(data):
    return (data / "people/obama/obama_1.jpg").read_bytes()


@pytest.fixture(autouse=True)
def _signals_and_matcher(video_pipeline):
    """``Daemon.run`` installs its signal handlers in the test process; the session's matcher is shared."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)
    video_pipeline.matcher.set_gallery({})


def rig(tmp_path, video_pipeline, readers: list):
    names = [r.name for r in readers]
    cams = ", ".join(f"{{name: {n}, source: /dev/null}}" for n in names)
    cfg = parse_config(f"device_id: {DEVICE}\ncameras: [{cams}]\ngallery: {{path: {tmp_path / 'gallery'}}}\n"
                       "unknown_faces: {keep: 20}\nrecognition: {camera_mode: threads}\n", "cameras.yaml")
    people = open_people(cfg.gallery.path, video_pipeline, keep_crops=True, cameras=names)
    bus = FakeBus()
    daemon = build_daemon(cfg, pipeline=video_pipeline, people=people, bus=bus, readers=readers, handler_options={})
    return daemon, bus


def wait(what: Callable[[], object], timeout: float = 120.0) -> None:
    """Until ``what()`` is true; the timeout only keeps a broken run from hanging the suite."""
    end = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def ask(bus: FakeBus, topic: str, payload: bytes | str, timeout: float = 120.0) -> dict:
    """A command delivered as the network thread would, answered by the daemon's own command thread."""
    before = len(bus.replies)
    bus.deliver(topic, payload)
    wait(lambda: len(bus.replies) > before, timeout)
    return json.loads(bus.replies[before][1])


def run_with(daemon, drive: Callable[[], None]) -> int:
    """``daemon.run()`` here (signals need the main thread), ``drive`` on a thread of its own, then stop."""
    failed: list[BaseException] = []

    def driver() -> None:
        try:
            wait(lambda: daemon.bus.connected.is_set())
            drive()
        except BaseException as e:
            failed.append(e)
        finally:
            daemon.request_stop()

    t = threading.Thread(target=driver)
    t.start()
    code = daemon.run()
    t.join()
    if failed:
        raise failed[0]
    return code


def events(bus: FakeBus, camera: str) -> list[tuple]:
    """A camera's events without what differs from run to run (ids, wall-clock time)."""
    out = []
    for m in bus.on(f"{BASE}/event"):
        b = json.loads(m.payload)
        if b["camera"] == camera:
            out.append((b["name"], b["event_type"], tuple(b["box"]), round(b["score"], 4)))
    return out


#: frame index → the gallery changes made before it (enroll, delete over MQTT)
HOLD_1, HOLD_2 = 40, 150


def changes(lin: bytes, obama: bytes) -> dict[int, list[tuple[str, bytes]]]:
    return {
        HOLD_1: [(f"{BASE}/cmd/enroll/obama", obama), (f"{BASE}/cmd/enroll/{LIN}", lin),
                 (f"{BASE}/cmd/delete/obama", b"")],
        HOLD_2: [(f"{BASE}/cmd/delete/{LIN}", b""), (f"{BASE}/cmd/enroll/{LIN}", lin)],
    }


def one_camera(tmp_path, video_pipeline, frames, todo) -> list[tuple]:
    """The spec: one camera, its frames processed in turn, the same changes before the same frames."""
    daemon, bus = rig(tmp_path / "one", video_pipeline, [CameraReader("stage", "/dev/null", loop=False,
                                                                      fps_limit=None)])
    assert daemon.camera_mode == "loop"
    bus.start()
    for i, rgb in enumerate(frames):
        for topic, payload in todo.get(i, []):
            bus.deliver(topic, payload)
            daemon._commands.put(None)
            daemon._command_loop()
            assert json.loads(bus.replies[-1][1])["ok"], bus.replies[-1]
        daemon._process("stage", rgb, i, i / 30)
    video_pipeline.matcher.set_gallery({})
    return events(bus, "stage")


def test_two_cameras_give_each_what_one_camera_gives_with_gallery_changes_while_both_run(
        tmp_path, video_pipeline, frames, lin, obama):
    todo = changes(lin, obama)
    want = one_camera(tmp_path, video_pipeline, frames, todo)
    assert (LIN, "recognized") in [e[:2] for e in want]  # the spec names Lin
    cams = [FrameList("stage", frames, hold_at=HOLD_1), FrameList("door", frames, hold_at=HOLD_1)]
    daemon, bus = rig(tmp_path / "two", video_pipeline, cams)
    assert daemon.camera_mode == "threads"
    # each camera has an interpreter and a detector of its own; the matcher (and its gallery) is shared
    stage, door = daemon.workers["stage"].tracker, daemon.workers["door"].tracker
    assert stage.embedder is not door.embedder and stage.embedder is not video_pipeline.embedder
    assert stage.detector is not door.detector
    assert stage.matcher is door.matcher is video_pipeline.matcher

    def drive() -> None:
        for hold, nxt in ((HOLD_1, HOLD_2), (HOLD_2, None)):
            # both cameras have processed every frame before the hold (their threads wait for more)
            wait(lambda hold=hold: all(daemon.stats[c.name].processed == hold for c in cams))
            for topic, payload in todo[hold]:
                reply = ask(bus, topic, payload)
                assert reply["ok"], reply
            for c in cams:
                c.release(nxt)
        wait(lambda: all(daemon.stats[c.name].processed == len(frames) for c in cams))

    assert run_with(daemon, drive) == 0
    assert events(bus, "stage") == want
    assert events(bus, "door") == want
    assert not any(t.is_alive() for t in daemon._camera_threads.values())  # stopped cleanly


def test_a_capture_from_one_camera_and_a_busy_gallery_while_both_run(tmp_path, video_pipeline, frames, obama):
    cams = [FrameList("stage", frames, loop=True), FrameList("door", frames, loop=True)]
    daemon, bus = rig(tmp_path, video_pipeline, cams)
    got: dict[str, dict] = {}

    def drive() -> None:
        body = {"name": LIN, "capture": {"camera": "door", "frames": 3, "timeout_s": 60}}
        got["capture"] = ask(bus, f"{BASE}/cmd/enroll", json.dumps(body))
        assert got["capture"]["ok"] and got["capture"]["data"]["added"] == 3, got["capture"]
        for _ in range(3):  # the gallery changes again and again while both cameras run
            got.setdefault("churn", []).append(ask(bus, f"{BASE}/cmd/enroll/obama", obama)["ok"])
            got["churn"].append(ask(bus, f"{BASE}/cmd/delete/obama", b"")["ok"])
        start = {c.name: c.taken for c in cams}
        # both cameras go on, and both name Lin (the clip loops: every pass shows Lin)
        wait(lambda: all(c.taken > start[c.name] + len(frames) for c in cams))
        wait(lambda: {json.loads(m.payload)["camera"] for m in bus.on(f"{BASE}/event")
                      if json.loads(m.payload)["name"] == LIN} == {"stage", "door"})
        got["listed"] = ask(bus, f"{BASE}/cmd/list", json.dumps({"detail": True}))

    assert run_with(daemon, drive) == 0
    cap = got["capture"]
    assert cap["ok"] and cap["data"]["added"] == 3, cap
    assert got["churn"] == [True] * 6
    people = {p["name"]: p for p in got["listed"]["data"]["people"]}
    assert set(people) == {LIN}
    assert {s["source"] for s in people[LIN]["samples"]} == {"camera:door"}
    assert "obama" not in bus.retained.get(f"{BASE}/state/camera/stage", "")


def test_a_camera_thread_that_dies_stops_frd_for_a_restart(tmp_path, video_pipeline, frames, caplog):
    """A frame that breaks a camera's worker ends its thread; the daemon sees it and exits 1."""
    cams = [FrameList("stage", [None]), FrameList("door", frames, loop=True)]
    daemon, _ = rig(tmp_path, video_pipeline, cams)
    assert daemon.run() == 1
    assert "the frame thread of camera stage stopped" in caplog.text
    assert not any(t.is_alive() for t in daemon._camera_threads.values())


# -- as processes: ``frd run``, a real mosquitto, the real clip ----------------------------------------------

PBASE = f"frd/{PDEVICE}"


@pytest.fixture
def clip(data):
    return data / "video/short_hamilton_clip.mp4"


def two_cameras(tmp_path, broker, clip, **extra) -> FrdProcess:
    cams = [{"name": "stage", "source": str(clip), "loop": True}, {"name": "door", "source": str(clip), "loop": True}]
    return FrdProcess(write_config(tmp_path, broker, clip, cameras=cams, **extra))


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` now (from /proc), with its command line."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
            children.setdefault(ppid, []).append(int(d.name))
    out: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            with contextlib.suppress(OSError):
                out[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                todo.append(child)
    return out


def camera_processes(p: FrdProcess) -> dict[int, str]:
    """frd's camera children (multiprocessing's spawned interpreters), once both are up."""
    assert p.proc is not None

    def both() -> dict[int, str] | None:
        kids = {pid: cmd for pid, cmd in descendants(p.proc.pid).items() if "spawn_main" in cmd}
        return kids if len(kids) == 2 else None

    found = wait_until(both, 60)
    assert found, (descendants(p.proc.pid), p.log_text())
    return found


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def ask_broker(broker, sub, topic: str, payload: bytes | str, reply: str) -> dict:
    sub.clear()
    publish(broker.host, broker.port, topic, payload, qos=1)
    return sub.wait_for(lambda m: m.topic == f"{PBASE}/reply/{reply}", 60).json()


def named_on_both(sub, name: str, timeout: float = 90) -> None:
    """Both cameras announce ``name`` (each frame's faces come from that camera's own process)."""
    seen: set[str] = set()
    for _ in range(2):
        ev = sub.wait_for(lambda m: m.topic == f"{PBASE}/event" and m.json()["name"] == name
                          and m.json()["camera"] not in seen, timeout).json()
        seen.add(ev["camera"])
    assert seen == {"stage", "door"}


def test_two_cameras_as_processes_follow_the_gallery_and_stop_leaving_no_process(tmp_path, broker, clip):
    """Lin enrolled over MQTT after the start (captured from one camera: its child embeds every face while the
    capture waits) is named on both cameras, then renamed, then forgotten: each change reaches both children
    (only a child's own matcher can name the new name, or give a face the score of an empty gallery); SIGTERM
    stops frd with 0 and no process of its own is left."""
    p = two_cameras(tmp_path, broker, clip, recognition={"unknown_cooldown_s": 0}).start()
    try:
        cams = camera_processes(p)
        kids = descendants(p.proc.pid)
        with subscribe_collect(broker.host, broker.port, [f"{PBASE}/event", f"{PBASE}/reply/+"]) as sub:
            sub.wait_for(lambda m: m.topic == f"{PBASE}/event", 90)  # the children are at work
            body = {"name": LIN, "capture": {"camera": "door", "frames": 3, "timeout_s": 60}}
            reply = ask_broker(broker, sub, f"{PBASE}/cmd/enroll", json.dumps(body), "enroll")
            # three faces from the door camera (the clip is live: a blurred moment is skipped, not enrolled)
            assert reply["ok"] and reply["data"]["added"] == 3 and reply["data"]["rejected"] == [], reply
            named_on_both(sub, LIN)
            listed = ask_broker(broker, sub, f"{PBASE}/cmd/list", json.dumps({"detail": True}), "list")
            assert [{s["source"] for s in p["samples"]} for p in listed["data"]["people"]] == [{"camera:door"}]
            reply = ask_broker(broker, sub, f"{PBASE}/cmd/rename", json.dumps({"name": LIN, "new_name": "lmm"}),
                               "rename")
            assert reply["ok"], reply
            named_on_both(sub, "lmm")
            assert ask_broker(broker, sub, f"{PBASE}/cmd/delete/lmm", b"", "delete")["ok"]
            # the empty gallery reached both children: each names nobody, and scores faces 0 (nobody to compare)
            seen: set[str] = set()
            for _ in range(2):
                ev = sub.wait_for(lambda m: m.topic == f"{PBASE}/event" and m.json()["score"] == 0
                                  and m.json()["camera"] not in seen, 90).json()
                assert ev["name"] is None and ev["event_type"] == "unknown"
                seen.add(ev["camera"])
            time.sleep(1)
            assert not [m for m in sub.messages if m.topic == f"{PBASE}/event" and m.json()["name"] is not None]
        assert all(running(pid) for pid in cams)
        p.signal(signal.SIGTERM)
        assert p.wait(30) == 0, p.log_text()
    finally:
        p.stop()
    log = p.log_text()
    assert "2 camera(s), a process each" in log
    # the cameras' processes, and multiprocessing's helper (it ends when it reads the end of frd's pipe)
    assert wait_until(lambda: not [pid for pid in kids if running(pid)], 10), kids
    assert "Traceback" not in log, log


def test_a_camera_process_that_dies_stops_frd_for_a_restart(tmp_path, broker, clip):
    """A killed camera process ends frd with 1 (systemd restarts it), and takes the other camera's along."""
    p = two_cameras(tmp_path, broker, clip).start()
    try:
        cams = camera_processes(p)
        with subscribe_collect(broker.host, broker.port, [f"{PBASE}/status"]) as sub:
            sub.wait_for(lambda m: all(c["frames"] > 0 for c in m.json()["cameras"].values()), 90)
        kids = descendants(p.proc.pid)
        victim = min(cams)
        os.kill(victim, signal.SIGKILL)
        assert p.wait(30) == 1, p.log_text()
    finally:
        p.stop()
    log = p.log_text()
    assert re.search(r"camera (stage|door): its process ended \(exit status -9\)", log), log
    assert re.search(r"the process of camera (stage|door) stopped: exiting so that the service manager restarts",
                     log), log
    assert wait_until(lambda: not [pid for pid in kids if running(pid)], 10), kids


def test_camera_processes_end_when_frd_is_killed(tmp_path, broker, clip):
    """kill -9 of frd (nothing stops its children for it): each camera process sees its pipe close, and ends."""
    p = two_cameras(tmp_path, broker, clip).start()
    try:
        camera_processes(p)
        with subscribe_collect(broker.host, broker.port, [f"{PBASE}/status"]) as sub:
            sub.wait_for(lambda m: all(c["frames"] > 0 for c in m.json()["cameras"].values()), 90)
        kids = descendants(p.proc.pid)
        p.kill9()
    finally:
        p.stop()
    assert wait_until(lambda: not [pid for pid in kids if running(pid)], 20), kids
