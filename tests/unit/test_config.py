"""Config loading: errors must say file:line: key, defaults must be sane, secrets stay out of YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edged.config import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_STRICTNESS,
    STRICTNESS_LEVELS,
    Config,
    ConfigError,
    client_id_for,
    default_config_path,
    load_config,
    parse_config,
    resolve_password,
    sanitize_device_id,
    topics_for,
)
from edged.core.logs import LEVELS as LOG_LEVELS
from edged.core.names import check_id
from edged.core.paths import default_gallery
from edged.core.sources import STREAM_SCHEMES, source_kind

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "frd.example.yaml"
F = "/etc/frd/frd.yaml"


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), F)
    return str(info.value)


def test_example_file_parses() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.device_id == "door"
    assert [c.name for c in cfg.cameras] == ["front", "garden"]
    assert cfg.cameras[0].source == "/dev/video0"
    assert cfg.cameras[1].fps_limit == 5
    assert cfg.mqtt.protocol == "auto"
    assert cfg.recognition.min_face_frac == 0.05


def test_example_documents_every_default() -> None:
    """Apart from the keys marked 'example', the example file equals the defaults (docs cannot drift)."""
    cfg = load_config(EXAMPLE)
    defaults = Config(device_id="door")
    assert cfg.model_dump(exclude={"cameras"}) == defaults.model_dump(exclude={"cameras"})


def test_defaults_without_file() -> None:
    cfg = load_config(None)
    assert cfg.cameras == []
    assert cfg.log_level == "info"
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.base_topic) == ("127.0.0.1", 1883, "frd")
    assert cfg.mqtt.tls.enabled is False
    assert cfg.gallery.path == default_gallery()  # the CLI's and frd run's one default: <state dir>/gallery
    assert cfg.homeassistant.prefix == "homeassistant"
    assert cfg.homeassistant.presence_off_delay_s == 60
    r = cfg.recognition
    assert (r.threshold, r.upsample, r.min_face_px, r.vote_frames, r.vote_window) == (None, 0, 40, 3, 5)
    assert (r.cooldown_s, r.unknown_cooldown_s, r.threads) == (60, 30, 1)
    assert cfg.status_interval_s == 5
    assert cfg.device_id == sanitize_device_id(cfg.device_id)


def test_empty_file_is_all_defaults() -> None:
    assert parse_config("", F).mqtt.port == 1883
    assert parse_config("# only a comment\n", F).cameras == []


def test_commented_out_sections_are_defaults() -> None:
    cfg = parse_config("mqtt:\n  # host: x\n  tls:\nrecognition:\ncameras:\n", F)
    assert cfg.mqtt.host == "127.0.0.1" and cfg.recognition.vote_frames == 3 and cfg.cameras == []


def test_unknown_key_top_level() -> None:
    msg = _error(
        """\
        device_id: door
        log_levle: debug
        """
    )
    assert msg.startswith(f"{F}:2: log_levle: unknown key")


def test_unknown_key_nested() -> None:
    msg = _error(
        """\
        mqtt:
          host: broker
          tls:
            enabled: true
            ca: /etc/ssl/ca.pem
        """
    )
    assert msg.startswith(f"{F}:5: mqtt.tls.ca: unknown key")


def test_unknown_key_in_list_item() -> None:
    msg = _error(
        """\
        cameras:
          - name: front
            source: 0
          - name: back
            source: 1
            fps: 3
        """
    )
    assert msg.startswith(f"{F}:6: cameras[1].fps: unknown key")


def test_wrong_type_gives_line_of_value() -> None:
    msg = _error(
        """\
        cameras:
          - name: front
            source: /dev/video0
            loop: sometimes
        """
    )
    assert msg == f"{F}:4: cameras[0].loop: Input should be a valid boolean"


def test_wrong_type_value_on_following_line() -> None:
    # The value is a block sequence starting on the next line: that is where the mistake is.
    msg = _error(
        """\
        mqtt:
          port:
            - 1883
        """
    )
    assert msg.startswith(f"{F}:3: mqtt.port: ")


def test_missing_key_gives_line_of_mapping() -> None:
    msg = _error(
        """\
        device_id: door
        cameras:
          - loop: true
            source: 0
        """
    )
    assert msg == f"{F}:3: cameras[0].name: Field required"


def test_several_errors_each_on_its_own_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("mqtt:\n  port: 0\nrecognition:\n  upsample: 7\n", F)
    problems = info.value.problems
    assert [p.split(": ")[0] for p in problems] == [f"{F}:2", f"{F}:4"]
    assert str(info.value) == "\n".join(problems)


def test_yaml_syntax_error() -> None:
    msg = _error(
        """\
        mqtt:
          host: [broker
          port: 1883
        """
    )
    assert msg.startswith(f"{F}:3: invalid YAML")


def test_yaml_duplicate_key_refused() -> None:
    msg = _error(
        """\
        mqtt:
          host: a
          host: b
        """
    )
    assert msg.startswith(f"{F}:3: invalid YAML: duplicate key 'host'")


def test_top_level_must_be_mapping() -> None:
    assert _error("- a\n- b\n").startswith(f"{F}:1: ")


def test_duplicate_camera_names_refused() -> None:
    msg = _error(
        """\
        cameras:
          - name: front
            source: 0
          - name: front
            source: 1
        """
    )
    assert msg == f"{F}:4: cameras[1].name: duplicate camera name 'front' (also cameras[0])"


@pytest.mark.parametrize("bad", ["Door", "door cam", "a" * 65, "all", "gallery", "dööre", "''"])
def test_bad_device_id_refused(bad: str) -> None:
    msg = _error(f"device_id: {bad}\n")
    assert msg.startswith(f"{F}:1: device_id: ")


@pytest.mark.parametrize("bad", ["Front", "a/b", "cam#1", ""])
def test_bad_camera_name_refused(bad: str) -> None:
    msg = _error(f"cameras:\n  - name: '{bad}'\n    source: 0\n")
    assert msg.startswith(f"{F}:2: cameras[0].name: ")


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ("0", True),
        ("/dev/video0", True),
        ("clip.mp4", True),
        ("rtsp://cam/s", True),
        ("https://x/y.mjpg", True),
        ("ftp://x/y", False),
        ("-1", False),
        ("''", False),
        ("true", False),
        ("[0]", False),
    ],
)
def test_camera_source(source: str, ok: bool) -> None:
    text = f"cameras:\n  - name: c\n    source: {source}\n"
    if ok:
        parse_config(text, F)
    else:
        assert _error(text).startswith(f"{F}:3: cameras[0].source: ")


@pytest.mark.parametrize("scheme", STREAM_SCHEMES)
def test_config_accepts_every_stream_scheme_the_reader_reads(scheme: str) -> None:
    """`frd run` takes every camera `frd recognize` reads: one list of schemes (sources.STREAM_SCHEMES)."""
    for spelled in (scheme, scheme.upper()):
        url = f"{spelled}://192.0.2.10:554/stream1"
        cfg = parse_config(f"cameras:\n  - name: c\n    source: {url}\n", F)
        assert cfg.cameras[0].source == url and source_kind(url) == "stream"


@pytest.mark.parametrize("scheme", ["ftp", "file", "rtp", "smb"])
def test_config_refuses_other_schemes_naming_file_line_key_and_the_accepted_ones(scheme: str) -> None:
    msg = _error(f"device_id: door\ncameras:\n  - name: c\n    source: {scheme}://x/y\n")
    assert msg == (f"{F}:4: cameras[0].source: URL scheme {scheme!r} is not supported "
                   f"(use one of: {', '.join(STREAM_SCHEMES)})")
    assert source_kind(f"{scheme}://x/y") != "stream"


def test_vocabularies_are_the_ones_of_their_modules() -> None:
    """Strictness levels and log levels are listed once (match.py, logs.py); the config takes them from there."""
    for level in STRICTNESS_LEVELS:
        assert parse_config(f"recognition:\n  strictness: {level}\n", F).recognition.strictness == level
    for level in LOG_LEVELS:
        assert parse_config(f"log_level: {level}\n", F).log_level == level
    assert "'strict', 'balanced' or 'lenient'" in _error("recognition:\n  strictness: paranoid\n")
    assert "'debug', 'info', 'warning' or 'error'" in _error("log_level: loud\n")
    assert Config().recognition.strictness == DEFAULT_STRICTNESS


@pytest.mark.parametrize("good", ["_garage", "a" * 64, "cam-2", "0"])
def test_camera_names_and_device_ids_follow_names_check_id(good: str) -> None:
    assert check_id(good) == good
    cfg = parse_config(f"device_id: '{good}'\ncameras:\n  - name: '{good}'\n    source: 0\n", F)
    assert cfg.device_id == good and cfg.cameras[0].name == good


def test_a_trailing_newline_in_a_camera_name_is_refused() -> None:
    assert _error('cameras:\n  - name: "front\\n"\n    source: 0\n').startswith(f"{F}:2: cameras[0].name: ")


def test_literal_password_refused_with_hint() -> None:
    msg = _error(
        """\
        mqtt:
          username: frd
          password: hunter2
        """
    )
    assert msg.startswith(f"{F}:3: mqtt.password: ")
    assert "password_file" in msg and "credential" in msg
    assert "hunter2" not in msg


@pytest.mark.parametrize(
    ("text", "want"), [("protocol: 5", "5"), ("protocol: 3.1.1", "3.1.1"), ("protocol: auto", "auto")]
)
def test_mqtt_protocol(text: str, want: str) -> None:
    assert parse_config(f"mqtt:\n  {text}\n", F).mqtt.protocol == want


def test_mqtt_protocol_refused() -> None:
    assert _error("mqtt:\n  protocol: 4\n").startswith(f"{F}:2: mqtt.protocol: ")


@pytest.mark.parametrize("topic", ["frd/#", "frd/+/x", "/frd", "frd/", "$SYS", ""])
def test_bad_base_topic(topic: str) -> None:
    assert _error(f"mqtt:\n  base_topic: '{topic}'\n").startswith(f"{F}:2: mqtt.base_topic: ")


def test_cross_field_errors_point_at_the_key() -> None:
    assert _error("recognition:\n  vote_window: 2\n  vote_frames: 3\n").startswith(f"{F}:3: recognition.vote_frames: ")
    assert _error("mqtt:\n  tls:\n    key_file: /k.pem\n").startswith(f"{F}:3: mqtt.tls.key_file: ")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("recognition:\n  upsample: 3\n", "2: recognition.upsample"),
        ("mqtt:\n  port: 70000\n", "2: mqtt.port"),
        ("recognition:\n  threshold: 99\n", "2: recognition.threshold"),
        ("recognition:\n  threads: 0\n", "2: recognition.threads"),
        ("status_interval_s: 0\n", "1: status_interval_s"),
        ("cameras:\n  - {name: a, source: 0, fps_limit: 0}\n", "2: cameras[0].fps_limit"),
    ],
)
def test_ranges(text: str, where: str) -> None:
    assert _error(text).startswith(f"{F}:{where}: ")


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=str(missing)):
        load_config(missing)


def test_load_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "frd.yaml"
    path.write_text("device_id: door\nbogus: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:2: bogus: ")


@pytest.mark.parametrize(
    ("host", "want"),
    [
        ("Door-Cam.local", "door-cam"),
        ("pi", "pi"),
        ("my_box 2", "my_box-2"),
        ("---", "frd"),
        ("all", "frd-all"),
        ("x" * 80, "x" * 64),
    ],
)
def test_sanitize_device_id(host: str, want: str) -> None:
    assert sanitize_device_id(host) == want


def test_default_config_path() -> None:
    assert default_config_path({}) == DEFAULT_CONFIG_PATH == Path("/etc/frd/frd.yaml")
    assert default_config_path({"FRD_CONFIG": "/tmp/x.yaml"}) == Path("/tmp/x.yaml")


def test_helpers() -> None:
    cfg = parse_config("device_id: door\nmqtt:\n  base_topic: home/frd\n", F)
    assert topics_for(cfg).availability == "home/frd/door/availability"
    assert client_id_for(cfg) == "frd-door"


# ---------------------------------------------------------------- secrets


def _cfg_with_password_file(path: Path) -> Config:
    return parse_config(f"mqtt:\n  username: frd\n  password_file: {path}\n", F)


def test_password_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o640)
    with pytest.raises(ConfigError, match=r"may be read by its group \(mode 0640\).*chmod 600"):
        resolve_password(_cfg_with_password_file(pw), {})
    pw.chmod(0o600)
    assert resolve_password(_cfg_with_password_file(pw), {}) == "s3cret"
    pw.write_text("s3cret\n\n")
    assert resolve_password(_cfg_with_password_file(pw), {}) == "s3cret\n"  # only one newline stripped
    pw.write_text("s3cret\r\n")
    assert resolve_password(_cfg_with_password_file(pw), {}) == "s3cret"


def test_no_password(tmp_path: Path) -> None:
    assert resolve_password(load_config(None), {}) is None
    assert resolve_password(load_config(None), {"CREDENTIALS_DIRECTORY": str(tmp_path)}) is None


def test_credentials_directory_wins(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    pw.chmod(0o600)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt_password").write_text("from-systemd\n")
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert resolve_password(_cfg_with_password_file(pw), env) == "from-systemd"
    # Without the credential file the password_file is used.
    (creds / "mqtt_password").unlink()
    assert resolve_password(_cfg_with_password_file(pw), env) == "from-file"
    # ... and so with the unit's fallback SetCredential=mqtt_password:\n (an empty credential)
    (creds / "mqtt_password").write_text("\n")
    assert resolve_password(_cfg_with_password_file(pw), env) == "from-file"
    assert resolve_password(load_config(None), env) is None



def test_credentials_directory_from_process_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mqtt_password").write_text("env\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert resolve_password(load_config(None)) == "env"


def test_missing_password_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(ConfigError, match=str(missing)):
        resolve_password(_cfg_with_password_file(missing), {})
