"""``frd run`` (the daemon) and ``frd check-config``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import NO_CAMERAS, Config, ConfigError, load_config
from ..core.sources import source_kind
from .common import config_arg, config_path


def add_run(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[common], help="run the daemon: cameras in, MQTT events out")
    config_arg(p)
    p.set_defaults(func=cmd_run)


def add_check_config(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("check-config", parents=[common], help="validate a config file (exit 0 ok, 2 invalid)")
    config_arg(p)
    p.set_defaults(func=cmd_check_config)


def cmd_run(args: argparse.Namespace) -> int:
    from ..daemon.app import run_daemon

    return run_daemon(config_path(args), log_level=args.log_level)


def _missing_sources(cfg: Config, path: Path) -> list[str]:
    """What ``frd run`` would refuse in a valid file: no camera at all, or a file source that does not exist (a
    camera device may be plugged in later, a file will not appear)."""
    out = [] if cfg.cameras else [f"{path}: cameras: {NO_CAMERAS}"]
    for i, cam in enumerate(cfg.cameras):
        if source_kind(cam.source) in ("video", "image", "folder") and not Path(str(cam.source)).is_file():
            out.append(f"{path}: cameras[{i}].source: {cam.source}: no such file (camera {cam.name!r})")
    return out


def cmd_check_config(args: argparse.Namespace) -> int:
    path = config_path(args)
    try:
        cfg = load_config(path)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    missing = _missing_sources(cfg, path)
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 2
    print(f"{path}: ok (device {cfg.device_id}, {len(cfg.cameras)} camera(s), broker {cfg.mqtt.host}:{cfg.mqtt.port})")
    return 0
