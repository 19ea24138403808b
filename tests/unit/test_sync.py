"""Fleet gallery sync: enroll on one device, recognised on another; rename/delete follow; late joiners catch up."""

from __future__ import annotations

import json

import pytest


def test_a_sync_record_with_a_lone_surrogate_is_refused_with_a_clear_error():
    """JSON may escape a lone UTF-16 surrogate ("\\udd8e"): such a record is no UTF-8 text and was never
    signed; it is an input error, not a traceback (found by tests/integration/test_fuzz.py)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edged.core.errors import InputError
    from edged.integrations.fleet.record import signed_message, verify
    from edged.integrations.fleet.trust import Trust

    key = Ed25519PrivateKey.generate()
    trust = Trust("door", key, {}, [])
    topic = "frd/gallery/lin"
    good = signed_message(topic, {"name": "lin"}, "door", key)
    assert verify(topic, good.encode(), trust)[0] == "door"
    bad = json.loads(good)
    bad["record"] = '{"name":"lin\udd8e"}'
    with pytest.raises(InputError, match="not UTF-8 text"):
        verify(topic, json.dumps(bad).encode(), trust)
