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

