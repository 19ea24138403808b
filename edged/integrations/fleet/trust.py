"""Who may sign fleet records: this device's own Ed25519 key, the devices' public keys, the authority's keys.

``signer`` is a device id whose public key is in ``fleet.trusted_keys`` (and must equal the record's
``origin``), or ``authority`` for a key in ``fleet.authority_keys``. A device may create people and change
or delete the people it enrolled; only the authority may change a person another device enrolled (see
README "Who may enroll").
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ...core.errors import FrdError
from ...core.files import check_private
from ...core.keys import AUTHORITY, public_key

#: systemd credential name ($CREDENTIALS_DIRECTORY/fleet_key) of this device's signing key.
KEY_CREDENTIAL = "fleet_key"


def _private_file(path: Path, credential: bool) -> bytes:
    """A secret file's bytes; refused when group or others may read it (the fix is in the message)."""
    if not credential:  # systemd makes credentials readable by the service only
        check_private(path, "fleet signing key")
    try:
        return path.read_bytes()
    except OSError as e:
        raise FrdError(f"{path}: cannot read the fleet signing key ({e.strerror or e})") from None


def load_signing_key(path: Path, *, credential: bool = False) -> Ed25519PrivateKey:
    """An Ed25519 private key in PEM (``openssl genpkey -algorithm ed25519 -out fleet_key.pem``)."""
    data = _private_file(path, credential)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise FrdError(f"{path}: not a PEM private key without a passphrase ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise FrdError(f"{path}: the fleet signing key must be Ed25519 (openssl genpkey -algorithm ed25519)")
    return key


def resolve_signing_key(key_file: Path | None, environ: Mapping[str, str] | None = None) -> Ed25519PrivateKey | None:
    """This device's key: the systemd credential ``fleet_key`` first, else ``fleet.signing_key_file``."""
    env = os.environ if environ is None else environ
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / KEY_CREDENTIAL).exists():
        return load_signing_key(Path(cred_dir) / KEY_CREDENTIAL, credential=True)
    return load_signing_key(key_file) if key_file is not None else None


def public_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@dataclass
class Trust:
    """Who may sign fleet records: this device's own key, the devices' public keys, the authority's keys."""

    device_id: str
    signing_key: Ed25519PrivateKey | None
    devices: dict[str, list[Ed25519PublicKey]]
    authorities: list[Ed25519PublicKey]

    def keys_of(self, signer: str) -> list[Ed25519PublicKey]:
        if signer == AUTHORITY:
            return self.authorities
        if signer == self.device_id and self.signing_key is not None:
            return [self.signing_key.public_key(), *self.devices.get(signer, [])]
        return self.devices.get(signer, [])


def trust_from_config(fleet_cfg, device_id: str, environ: Mapping[str, str] | None = None) -> Trust:
    """The :class:`Trust` of ``config.fleet`` (keys are validated by the config already)."""
    return Trust(
        device_id,
        resolve_signing_key(fleet_cfg.signing_key_file, environ),
        {d: [public_key(k, f"fleet.trusted_keys.{d}") for k in keys] for d, keys in fleet_cfg.trusted_keys.items()},
        [public_key(k, "fleet.authority_keys") for k in fleet_cfg.authority_keys],
    )
