"""The motion gate: an unchanging picture costs (almost) no detection, and nobody who walks in is lost."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edged.config import ConfigError, parse_config
from edged.vision.motion import MotionGate


def test_a_small_change_is_motion_and_sensor_noise_is_not():
    gate = MotionGate(threshold=12, check_every_s=2)
    rng = np.random.default_rng(0)
    room = np.full((1080, 1920, 3), 90, np.uint8)
    assert gate.should_detect(room, 0.0)  # no reference yet
    for t in (0.1, 0.2, 0.3):  # noise of a real sensor (sigma 4 grey levels) is averaged away
        noisy = np.clip(room + rng.normal(0, 4, room.shape), 0, 255).astype(np.uint8)
        assert not gate.should_detect(noisy, t)
    assert gate.skipped == 3
    far = room.copy()
    cv2.rectangle(far, (900, 500), (930, 600), (200, 180, 160), -1)  # a far person: 30 px wide, 100 px tall
    assert gate.should_detect(far, 0.4)
    assert not gate.should_detect(far, 0.5)  # compared with the last detected frame: no change since
    assert gate.should_detect(far, 2.5)  # the periodic check
    gate.reset()
    assert gate.should_detect(far, 2.6)


def test_a_still_picture_with_nobody_followed_skips_the_periodic_check_but_not_for_ever():
    gate = MotionGate(threshold=12, check_every_s=2)
    rng = np.random.default_rng(1)
    room = np.full((1080, 1920, 3), 90, np.uint8)
    assert gate.check(room, 0.0, idle=True)[0]  # no reference yet: the whole frame

    def noisy(img: np.ndarray) -> np.ndarray:
        return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    # nobody followed and nothing changed: the periodic checks at 2, 4, 6 and 8 s are skipped ...
    assert [gate.check(noisy(room), t, idle=True)[0] for t in (2.0, 4.0, 6.0, 8.0)] == [False] * 4
    assert gate.still_skipped == 4
    assert gate.check(noisy(room), 10.0, idle=True) == (True, None)  # ... but not for ever (5 periods)
    # someone followed: the periodic check runs on a still picture (it confirms the faces it follows)
    assert gate.check(noisy(room), 12.0, idle=False) == (True, None)
    # a faint change, under the gate's threshold but over half of it, still gets its periodic check
    faint = room.copy()
    faint[400:700, 800:1000] += 8  # a far figure, 8 grey levels: not motion
    assert gate.check(faint, 13.0, idle=True) == (False, None)
    assert gate.check(faint, 14.0, idle=True) == (True, None)
    # motion off (skip=False): every due check runs
    always = MotionGate(threshold=12, check_every_s=2, skip=False)
    always.check(room, 0.0, idle=True)
    assert always.check(room, 2.0, idle=True) == (True, None)


def test_the_gate_is_configurable_and_refuses_nonsense():
    cfg = parse_config("recognition:\n  motion:\n    enabled: false\n", "frd.yaml")
    assert cfg.recognition.motion.enabled is False
    cfg = parse_config("recognition:\n  motion:\n    threshold: 20\n    check_every_s: 0.5\n", "frd.yaml")
    assert (cfg.recognition.motion.threshold, cfg.recognition.motion.check_every_s) == (20, 0.5)
    for bad in ("threshold: 0", "check_every_s: -1", "sensitivity: 3"):
        with pytest.raises(ConfigError, match="motion"):
            parse_config(f"recognition:\n  motion:\n    {bad}\n", "frd.yaml")


def test_the_gate_says_where_the_picture_changed():
    """The region that changed, in frame pixels, so the tracker can detect there at full detail."""
    gate = MotionGate(threshold=12, check_every_s=2)
    room = np.full((1080, 1920, 3), 90, np.uint8)
    assert gate.check(room, 0.0) == (True, None)  # no reference yet: the whole frame
    far = room.copy()
    cv2.rectangle(far, (900, 500), (930, 600), (200, 180, 160), -1)  # a far person: 30 px wide, 100 px tall
    detect, where = gate.check(far, 0.3)
    assert detect and where is not None
    assert where.x <= 900 and where.y <= 500 and where.x + where.w >= 931 and where.y + where.h >= 601
    assert where.area <= 0.03 * 1920 * 1080  # a few cells around it (30 px each), not the frame
    assert gate.check(far, 0.4) == (False, None) and gate.skipped == 1
    assert gate.check(far, 2.0) == (True, None)  # the periodic check looks at the whole frame
    always = MotionGate(threshold=12, check_every_s=2, skip=False)  # motion.enabled: false
    assert always.check(room, 0.0) == (True, None)
    assert always.check(room, 0.1) == (True, None) and always.skipped == 0  # never skips
    assert always.check(far, 0.2)[1] is not None  # ... and still says where


def test_an_idle_camera_still_reports_its_frame_rate():
    """Frames passed over count with the frame after them: an idle 30 fps camera reads 30 in ``status``."""
    from edged.daemon.daemon import CameraStats

    stats = CameraStats()
    for i in range(100):  # 10 s of an idle camera: 1 frame read in 3, each after 2 passed over
        stats.tick(i / 10, frames=1 if i == 0 else 3)
    assert stats.processed == 1 + 99 * 3
    assert stats.fps(9.9) == pytest.approx(30, rel=0.01)
    assert stats.fps(15.0) < 0.6 * stats.fps(9.9)  # and it falls when frames stop coming
