"""Fleet keys as the config and the fleet's records name them: who the enrollment authority is, and an Ed25519
public key as text (the base64 of its 32 raw bytes, what README's openssl recipe prints).

Here, below the config, because the config checks every key it lists (``fleet.trusted_keys``,
``fleet.authority_keys``) when it is loaded; the fleet's trust (:mod:`edged.integrations.fleet.trust`) reads
them the same way. ``cryptography`` is imported when a key is read, so loading a config without keys stays light.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from .errors import FrdError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

#: The signer name of the enrollment authority (fleet records; never a device id).
AUTHORITY = "authority"


def public_key(text: str, what: str) -> Ed25519PublicKey:
    """A public key given as the base64 of its 32 raw bytes (what README's openssl recipe prints)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as e:
        raise FrdError(f"{what}: not the base64 of a 32-byte Ed25519 public key ({e})") from None
