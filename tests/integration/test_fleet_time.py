"""Fleet records and time: a delete made on a device whose clock is behind reaches every device; a deleted
person's old, genuinely signed record replayed later re-enrolls them nowhere — not on a device that was online,
nor on one that missed the delete, nor on one that joined later, before or after the replay.

Real ``frd run`` processes over a real mosquitto. A device's clock is set back inside its own process
(``time.time`` shifted before frd starts), as the review did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.broker import publish, subscribe_collect
from tests.daemon_helpers import FrdProcess, fleet_config, fleet_keys, wait_until, write_config

DEVICES = ("door", "garden", "porch", "shed", "yard")
#: ``python -c SHIFTED OFFSET run -c CONFIG``: frd with its wall clock OFFSET seconds off
SHIFTED = textwrap.dedent("""
    import sys, time
    _real, _offset = time.time, float(sys.argv.pop(1))
    time.time = lambda: _real() + _offset
    from edged.cli.main import main
    raise SystemExit(main())
""")


class Device(FrdProcess):
    """``frd run`` whose clock is ``offset`` seconds off."""

    def __init__(self, config, offset: float = 0.0) -> None:
        super().__init__(config)
        self.offset = offset

    def start(self) -> Device:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", SHIFTED, str(self.offset), "run", "-c",
                                          str(self.config)], stdout=subprocess.DEVNULL, stderr=log,
                                         stdin=subprocess.DEVNULL)
        return self


def device(tmp_path, broker, clip, keys, name: str, offset: float = 0.0) -> Device:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    cfg = write_config(folder, broker, clip, device_id=name, fleet=fleet_config(keys, name),
                       cameras=[{"name": "stage", "source": str(clip), "loop": True, "fps_limit": 1}])
    return Device(cfg, offset)


def online(broker, *devices: Device) -> None:
    for d in devices:
        with subscribe_collect(broker.host, broker.port, [f"frd/{d.config.parent.name}/availability"]) as sub:
            sub.wait_for(lambda m: m.text == "online", 60)  # stop() leaves a retained offline


def ask(broker, name: str, command: str, payload: bytes = b"") -> dict:
    with subscribe_collect(broker.host, broker.port, [f"frd/{name}/reply/{command.split('/')[0]}"]) as sub:
        publish(broker.host, broker.port, f"frd/{name}/cmd/{command}", payload, qos=1)
        return sub.wait_for(lambda m: True, 30).json()


def people(broker, name: str) -> list[str]:
    return [p["name"] for p in ask(broker, name, "list")["data"]["people"]]


def retained_record(broker, topic: str) -> tuple[bytes, dict]:
    with subscribe_collect(broker.host, broker.port, [topic]) as sub:
        m = sub.wait_for(lambda m: True, 10)
    return m.payload, json.loads(m.json()["record"])


def test_a_delete_from_a_clock_behind_wins_and_an_old_record_replayed_brings_nobody_back(tmp_path, broker, data):
    clip = data / "video/short_hamilton_clip.mp4"
    keys = fleet_keys(tmp_path, list(DEVICES))
    door, garden, porch = (device(tmp_path, broker, clip, keys, n) for n in DEVICES[:3])
    procs = [door, garden, porch]
    try:
        for d in procs:
            d.start()
        online(broker, door, garden, porch)
        lin = (data / "video/enroll/lin_manuel_miranda_1.png").read_bytes()
        assert ask(broker, "door", "enroll/lin", lin)["ok"]
        for name in ("garden", "porch"):
            assert wait_until(lambda n=name: people(broker, n) == ["lin"], 30), name
        captured, enrolled = retained_record(broker, "frd/gallery/lin")  # what an attacker keeps for later
        assert enrolled["rev"] == 1

        # porch goes offline (it will miss the delete); door's clock goes back an hour (a bad NTP server)
        porch.stop()
        door.stop()
        door.offset = -3600
        door.start()
        online(broker, door)
        assert ask(broker, "door", "delete/lin")["ok"]
        _, tombstone = retained_record(broker, "frd/gallery/lin")
        assert tombstone["deleted"] is True and tombstone["rev"] == 2
        assert tombstone["updated"] < enrolled["updated"] - 3000  # dated before the enrollment, by door's clock
        # the review's fleet kept lin here, silently: the revision outranks the enrollment whatever the dates
        assert wait_until(lambda: people(broker, "garden") == [], 20), garden.log_text()[-2000:]
        assert "lin deleted by door (revision 2)" in garden.log_text()

        # porch comes back after the delete; shed joins for the first time after it
        shed = device(tmp_path, broker, clip, keys, "shed")
        procs.append(shed)
        porch.start()
        shed.start()
        online(broker, porch, shed)
        assert wait_until(lambda: people(broker, "porch") == [], 20), porch.log_text()[-2000:]
        assert people(broker, "shed") == []

        # the attacker replays lin's old, genuinely signed record, retained: everyone refuses it, and door (whose
        # deletion it is) puts its tombstone back on the broker for the devices to come
        publish(broker.host, broker.port, "frd/gallery/lin", captured, retain=True, qos=1)
        for d in (garden, porch, shed):
            assert wait_until(lambda d=d: "old record of lin (revision 1, signed by door) after their deletion"
                              in d.log_text(), 40), d.log_text()[-2000:]
        assert wait_until(lambda: retained_record(broker, "frd/gallery/lin")[1].get("deleted") is True, 20)
        for name in ("garden", "porch", "shed", "door"):
            assert people(broker, name) == [], name

        # yard joins after the replay: it reads the tombstone, and the replay once more changes nothing
        for d in (garden, porch):
            d.stop()
        yard = device(tmp_path, broker, clip, keys, "yard")
        procs.append(yard)
        yard.start()
        online(broker, yard)
        assert people(broker, "yard") == []  # answered: subscribed, the retained tombstone read
        publish(broker.host, broker.port, "frd/gallery/lin", captured, retain=True, qos=1)
        assert wait_until(lambda: "after their deletion" in yard.log_text(), 20), yard.log_text()[-2000:]
        assert people(broker, "yard") == [] and people(broker, "shed") == []
        for d in procs:
            assert "Traceback" not in d.log_text(), d.log_text()[-3000:]
    finally:
        for d in procs:
            d.stop()
        publish(broker.host, broker.port, "frd/gallery/lin", b"", retain=True, qos=1)
