"""The README's run command: `frd demo` shows the whole job end to end."""

import subprocess
import sys


def test_demo_with_the_embedded_broker_enrolls_over_mqtt_and_prints_a_recognition():
    """No mosquitto, no webcam: amqtt (MQTT 3.1.1 only, so frd falls back) and the built-in video."""
    proc = subprocess.run(
        [sys.executable, "-m", "edged", "demo", "--broker", "embedded", "--video", "--seconds", "90",
         "--until-event"],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "broker:  embedded amqtt" in out
    assert "a video built from" in out and "grace_hopper.jpg" in out
    assert '"ok": true' in out  # the enrollment reply
    assert "event:   recognized name=grace_hopper" in out
    assert "(MQTT 3.1.1, session" in proc.stderr



def test_demo_prints_a_pasteable_enroll_line_and_keeps_talking_after_the_first_event():
    """The printed mosquitto_pub line names the port and an existing image; after the first event the
    demo is not silent for a minute (it prints frd's status every 10 s)."""
    import re
    import shlex
    from pathlib import Path

    proc = subprocess.run(
        [sys.executable, "-m", "edged", "demo", "--broker", "mosquitto", "--video", "--seconds", "40"],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    port = re.search(r"broker:  mosquitto on 127\.0\.0\.1:(\d+)", out).group(1)
    line = next(x for x in out.splitlines() if x.startswith("enroll:  mosquitto_pub"))
    argv = shlex.split(line.removeprefix("enroll:  "))
    assert argv[argv.index("-p") + 1] == port and argv[argv.index("-h") + 1] == "127.0.0.1"
    assert argv[argv.index("-t") + 1] == "frd/demo/cmd/enroll/grace_hopper"
    assert Path(argv[argv.index("-f") + 1]).is_file()
    lines = out.splitlines()
    first = next(i for i, x in enumerate(lines) if x.startswith("event:   recognized"))
    after = [x for x in lines[first + 1:] if x.startswith(("event:", "status:"))]
    assert len([x for x in after if x.startswith("status:")]) >= 2, out
