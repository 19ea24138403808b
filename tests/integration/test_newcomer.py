"""What a new user trips over, re-tried: the command line as the README shows it, run as a real subprocess with
the real model (one gallery a user cannot miss, options where the README puts them, who a face already is,
quiet broken pipes, a config `frd run` would refuse)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LIN = "video/enroll/lin_manuel_miranda_1.png"


def _frd(*args: str | Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("FRD_CONFIG", "STATE_DIRECTORY")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "edged", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=full)


def test_a_face_enrolled_under_one_name_is_refused_under_another_unless_forced(frd, data, tmp_path):
    """Lin's photo as `lin` when he is `lin_manuel_miranda` already: refused with that name and score, nothing
    added; --force enrolls it with a warning; the same photo again is not a second sample."""
    gallery = tmp_path / "g"
    first = frd("enroll", "lin_manuel_miranda", data / LIN, "--gallery", gallery)
    assert first.code == 0 and first.json()["added"] == 1, first.err

    again = frd("enroll", "lin", data / LIN, "--gallery", gallery)
    out = again.json()
    assert again.code == 1 and out["added"] == 0, out
    (why,) = [r["reason"] for r in out["rejected"]]
    assert why.startswith("already enrolled as lin_manuel_miranda (score ") and "--force" in why, why
    assert [p["name"] for p in frd("gallery", "list", "--gallery", gallery).json()["people"]] == [
        "lin_manuel_miranda"]

    same = frd("enroll", "lin_manuel_miranda", data / LIN, "--gallery", gallery)
    assert same.code == 1 and same.json()["added"] == 0
    assert "the same photo as sample " in same.json()["rejected"][0]["reason"]
    assert frd("gallery", "show", "lin_manuel_miranda", "--gallery", gallery).json()["embeddings"] == 1

    forced = frd("enroll", "lin", data / LIN, "--force", "--gallery", gallery)
    assert forced.code == 0 and forced.json()["added"] == 1, forced.out
    assert "already enrolled as lin_manuel_miranda" in forced.json()["warnings"][0]["warning"]


def test_one_gallery_for_the_cli_and_the_daemon_and_every_command_says_which(data, tmp_path):
    """No config: the default gallery (what `frd run -c FILE` reads when FILE sets none), said in the output
    with a warning that names the fix; a config whose gallery differs from --gallery: a warning."""
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    r = _frd("enroll", "obama", data / "people/obama/obama_1.jpg", env=env)
    default = tmp_path / "xdg" / "frd" / "gallery"
    if Path("/var/lib/frd").is_dir():  # an installed frd on this machine: its state is everyone's default
        default = Path("/var/lib/frd/gallery")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(f'"gallery": "{default}"') == 1
    assert "no config file" in r.stderr and "-c FILE" in r.stderr, r.stderr
    named = _frd("recognize", data / "people/obama/obama_2.jpg", env=env)
    assert "\tobama\t" in named.stdout and f"named from the default gallery {default} (1 person" in named.stderr

    cfg = tmp_path / "door.yaml"
    cfg.write_text("device_id: door\ncameras:\n  - name: front\n    source: /dev/video0\n")
    listed = _frd("gallery", "list", "-c", cfg, env=env)
    assert listed.returncode == 0 and listed.stderr == ""
    assert [p["name"] for p in __import__("json").loads(listed.stdout)["people"]] == ["obama"]

    other = _frd("gallery", "remove", "obama", "--gallery", tmp_path / "other", "-c", cfg, env=env)
    assert other.returncode == 1 and f"names the gallery {default}, not {tmp_path / 'other'}" in other.stderr


def test_the_readme_options_are_accepted_where_it_shows_them(tmp_path):
    """`frd run [-c FILE] [--log-level L]`: after the command too; help names every argument."""
    assert "--log-level" in _frd("run", "--help").stdout
    cfg = tmp_path / "frd.yaml"
    cfg.write_text("cameras:\n  - name: front\n    source: /dev/video0\n")
    assert _frd("check-config", "-c", cfg, "--log-level", "debug").returncode == 0
    assert _frd("check-config", "-v", "-c", cfg).returncode == 0
    rename = _frd("gallery", "rename", "onlyone", "--gallery", tmp_path / "g")
    assert rename.returncode == 2 and "the following arguments are required: NEW" in rename.stderr
    listing = _frd("gallery", "--help").stdout
    assert "OLD NEW: rename a person" in listing and "NAME SAMPLE_ID: remove one sample" in listing
    enroll = _frd("enroll", "--help").stdout
    assert "NAME  " in enroll and "IMAGE  " in enroll and "--force" in enroll


def test_check_config_refuses_what_frd_run_refuses(tmp_path):
    cfg = tmp_path / "frd.yaml"
    cfg.write_text("device_id: door\n")
    r = _frd("check-config", "-c", cfg)
    assert r.returncode == 2 and "no cameras configured (add at least one under 'cameras:')" in r.stderr


def test_a_closed_pipe_ends_quietly(data):
    """`frd embed ... | head -1` (and so `frd gallery list | head`, `frd recognize ... | head -1`: main() ends
    every command the same way): no BrokenPipe traceback, SIGPIPE's status."""
    photos = sorted((data / "people" / "obama").glob("*.jpg"))
    proc = subprocess.Popen([sys.executable, "-m", "edged", "embed", *map(str, photos)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout.readline()  # the first photo's line; the rest are written after the reader is gone
    proc.stdout.close()  # the reader goes away, as `head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(300) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
