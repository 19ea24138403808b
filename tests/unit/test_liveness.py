"""What the watchdog is fed on: frd's own loops, not the frames of its cameras."""

from __future__ import annotations

from types import SimpleNamespace

from edged.daemon.liveness import COMMAND_STALL_S, LOOP_STALL_S, Beats, reader_problem
from edged.mqtt.commands import MAX_CAPTURE_TIMEOUT_S
from edged.vision.camera import STREAM_TIMEOUT_S


def reader(running=True, state="reconnecting", idle=0.0):
    return SimpleNamespace(running=running, state=state, stalled_s=lambda now: idle)


def test_a_loop_is_stalled_only_past_its_own_limit():
    beats = Beats()
    beats.beat("frames", 100.0)
    beats.beat("commands", 100.0, COMMAND_STALL_S)
    assert beats.stalled(100.0 + LOOP_STALL_S) == {}
    stalled = beats.stalled(100.0 + LOOP_STALL_S + 1)
    assert list(stalled) == ["frames"] and "has not come round for 21 s" in stalled["frames"]
    beats.beat("frames", 130.0)
    assert beats.stalled(130.0 + COMMAND_STALL_S + 1).keys() == {"frames", "commands"}
    # a capture enrollment (up to 60 s on the command thread) is not a stall; a network camera's call is bounded
    assert COMMAND_STALL_S > MAX_CAPTURE_TIMEOUT_S and LOOP_STALL_S >= 2 * STREAM_TIMEOUT_S


def test_a_camera_away_is_a_state_a_stuck_or_finished_reader_is_not_running():
    assert reader_problem("door", reader(), 0) is None  # retrying a camera that is away: it runs
    assert "no progress for 25 s" in reader_problem("door", reader(idle=25), 0)
    assert "has ended (loop is off)" in reader_problem("door", reader(running=False, state="ended"), 0)
    assert "has stopped" in reader_problem("door", reader(running=False, state="stopped"), 0)
    assert reader_problem("door", SimpleNamespace(state="streaming"), 0) is None  # a replay that does not say
