"""Network cameras: the clip served as a real HTTP/MJPEG stream by ffmpeg, recognised through it, and a
camera reader that gets its frames back after the server dies and returns.

The server is ``ffmpeg -re … -f mpjpeg -listen 1 http://127.0.0.1:PORT/…`` (multipart JPEG, what
most IP cameras' MJPEG URLs serve), started and killed by the test; nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edged.vision.camera import CameraReader
from tests.broker import free_port
from tests.fleet.camera import listening

NAME = "lin_manuel_miranda"


@contextlib.contextmanager
def mjpeg_server(clip: Path, port: int, loop: bool) -> Iterator[str]:
    """Serve the clip at its own pace as multipart JPEG over HTTP until the block ends."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed (apt-get install ffmpeg; scripts/test installs it)")
    url = f"http://127.0.0.1:{port}/live.mjpg"
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", *(["-stream_loop", "-1"] if loop else []),
           "-i", str(clip), "-an", "-c:v", "mjpeg", "-q:v", "3", "-f", "mpjpeg", "-listen", "1", url]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while not listening(port):
            assert proc.poll() is None, f"ffmpeg exited: {proc.stderr.read().decode(errors='replace')}"
            assert time.monotonic() < deadline, "ffmpeg did not start listening within 15 s"
            time.sleep(0.05)
        yield url
    finally:
        proc.kill()
        proc.wait(10)
        proc.stderr.close()


def test_frd_recognize_names_lin_through_an_http_mjpeg_stream(frd, data, tmp_path):
    g = tmp_path / "g"
    assert frd("enroll", NAME, data / "video/enroll/lin_manuel_miranda_1.png", "--gallery", g).code == 0
    with mjpeg_server(data / "video/short_hamilton_clip.mp4", free_port(), loop=False) as url:
        r = frd("recognize", url, "--json", "--gallery", g, timeout=300)
    assert r.code == 0, r.err
    lines = r.lines()
    named = sum(x["name"] == NAME for x in lines)
    events = [(x["event"], x["name"]) for x in lines if "event" in x]
    print(f"through {url}: {len(lines)} faces, named {named}, events {events}")
    assert {x["source"] for x in lines} == {url}
    assert named >= 80  # the file gives 122; JPEG at q 3 and ffmpeg's constant frame rate change a few
    assert [e for e in events if e[0] == "recognized"] == [("recognized", NAME)]


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_camera_reader_gets_frames_again_after_the_stream_server_restarts(data):
    clip, port = data / "video/short_hamilton_clip.mp4", free_port()
    url = f"http://127.0.0.1:{port}/live.mjpg"
    reader = CameraReader("door", url, loop=False, fps_limit=None, backoff_max_s=1.0)
    try:
        with mjpeg_server(clip, port, loop=True):
            reader.start()
            frame = reader.take(20)
            assert frame is not None and frame.rgb.shape == (360, 640, 3)
            assert reader.state == "streaming"
        # the server is gone: the reader says so and keeps trying
        _wait(lambda: reader.state == "reconnecting", 20, "the reader to notice the server is gone")
        reader.take(0)  # drop a frame left from before
        assert reader.take(1.5) is None
        reconnects = reader.reconnects
        with mjpeg_server(clip, port, loop=True):
            frame = reader.take(30)
            assert frame is not None and frame.rgb.shape == (360, 640, 3)
            assert reader.state == "streaming" and reader.error is None
            assert reader.reconnects >= reconnects >= 1
            assert reader.take(5) is not None  # and they keep flowing
    finally:
        reader.stop()
    assert reader.state == "stopped"


def test_frd_run_announces_lin_from_an_http_mjpeg_camera(data, broker, tmp_path):
    """The daemon itself on a network camera: enrolled over MQTT, announced over MQTT, camera state streaming."""
    import subprocess as sp

    from tests.broker import subscribe_collect
    from tests.daemon_helpers import DEVICE, FrdProcess, write_config

    base = f"frd/{DEVICE}"
    with mjpeg_server(data / "video/short_hamilton_clip.mp4", free_port(), loop=True) as url:
        p = FrdProcess(write_config(tmp_path, broker, url, loop=False)).start()
        try:
            with subscribe_collect(broker.host, broker.port, [f"{base}/#"]) as sub:
                sub.wait_for(lambda m: m.topic == f"{base}/availability" and m.text == "online", 60)
                sp.run(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1",
                        "-t", f"{base}/cmd/enroll/{NAME}", "-f", str(data / "video/enroll/lin_manuel_miranda_1.png")],
                       check=True, timeout=10)
                reply = sub.wait_for(lambda m: m.topic == f"{base}/reply/enroll", 60).json()
                assert reply["ok"] is True, reply
                # the served clip loops every 9 s: Lin comes round again within one loop
                ev = sub.wait_for(lambda m: m.topic == f"{base}/event" and m.json().get("name") == NAME, 40).json()
                # a status that says the camera streams, with frames flowing (not the first, from start-up)
                status = sub.wait_for(lambda m: m.topic == f"{base}/status"
                                      and m.json()["cameras"]["stage"]["state"] == "streaming"
                                      and m.json()["cameras"]["stage"]["fps"] > 0, 20).json()
            assert ev["camera"] == "stage" and ev["event_type"] == "recognized"
            print(f"event {ev['event_id']} score {ev['score']}; status {status}")
            assert p.alive()
        finally:
            p.stop()
