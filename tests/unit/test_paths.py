"""One default gallery for ``frd run`` and every command, with a config file or without (edged/core/paths.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edged.config import Config, parse_config
from edged.core import paths


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """/var/lib/frd, as a folder of the test's; absent until a test makes it."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(paths, "SYSTEM_STATE", tmp_path / "var-lib-frd")
    return tmp_path / "var-lib-frd"


def test_systemds_state_directory_comes_first(system: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system.mkdir()
    monkeypatch.setenv("STATE_DIRECTORY", "/run/state/frd:/elsewhere")
    assert paths.default_gallery() == Path("/run/state/frd/gallery")


def test_an_installed_frds_state_is_used_even_when_this_user_cannot_write_it(system: Path) -> None:
    """The service's folder (mode 0700) is the daemon's: the CLI must say 'permission denied' there, not quietly
    enroll into a gallery of its own that no daemon reads."""
    system.mkdir(mode=0o500)
    assert paths.default_gallery() == system / "gallery"


def test_without_an_installed_frd_the_users_data_folder(system: Path, tmp_path: Path) -> None:
    assert paths.default_gallery() == tmp_path / "xdg" / "frd" / "gallery"


def test_a_config_without_gallery_path_and_no_config_agree(system: Path, tmp_path: Path) -> None:
    """What `frd run -c FILE` reads when FILE sets no gallery.path is what the CLI uses with no config at all."""
    with_file = parse_config("device_id: door\n", "door.yaml").gallery.path
    assert with_file == Config(device_id="door").gallery.path == tmp_path / "xdg" / "frd" / "gallery"
    system.mkdir()
    assert parse_config("device_id: door\n", "door.yaml").gallery.path == system / "gallery"
