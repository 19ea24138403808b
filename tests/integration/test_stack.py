"""The stack a calibration was made with travels with it: ``frd version`` prints the whole stack beside it, and a
daemon on other versions says so once at start (the stranger rates were measured on the recorded ones)."""

from __future__ import annotations

import json
import shutil

from edged.core.stack import EMBEDDING_STACK, embedding_stack
from edged.vision.match import CALIBRATION_FILE
from edged.vision.modelfiles import model_dir
from tests.daemon_helpers import FrdProcess, wait_until, write_config


def test_the_shipped_calibration_was_made_with_the_locked_stack(frd) -> None:
    """The lock installs exactly what the calibration records, so an install from the lock says nothing."""
    out = frd("version", "--json")
    assert out.code == 0, out.err
    about = out.json()
    assert set(about["calibration_stack"]) == set(EMBEDDING_STACK)
    assert about["calibration_stack"] == embedding_stack()
    assert about["stack_differs"] == []
    text = frd("version")
    assert "calibration made with: opencv-python-headless 5.0.0.93" in text.out
    assert "this install: the same" in text.out


def test_a_daemon_on_other_versions_says_so_once(tmp_path, broker, data) -> None:
    models = tmp_path / "models"
    shutil.copytree(model_dir(), models, ignore=shutil.ignore_patterns("reference", "*.py", "README.md"))
    cal = json.loads((models / CALIBRATION_FILE).read_text())
    cal["stack"]["opencv-python-headless"] = "4.0.0"
    (models / CALIBRATION_FILE).write_text(json.dumps(cal))
    config = write_config(tmp_path, broker, data / "video" / "short_hamilton_clip.mp4")
    frd = FrdProcess(config, env={"FRD_MODEL_DIR": str(models)}).start()
    try:
        assert wait_until(lambda: "online" in frd.log_text() or "connected" in frd.log_text(), 90), frd.log_text()
        log = frd.log_text()
        assert log.count("this install runs") == 1, log
        line = next(x for x in log.splitlines() if "this install runs" in x)
        assert f"opencv-python-headless {embedding_stack()['opencv-python-headless']} (recorded 4.0.0)" in line
        assert "numpy" not in line  # only what differs is named
    finally:
        frd.stop()
