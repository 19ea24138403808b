"""A hostile device, a poisoned message or a retained command must not take over a door.

Every test sends what the security review sent — mostly with the very same ``mosquitto_pub``
command lines — through a real mosquitto into a real ``frd run``, then checks that frd is still
online, still answers, and did not act on the message.
"""

from __future__ import annotations

import numpy as np
import pytest

# ---------------------------------------------------------------- 6. the nonce store fails closed


def test_nonce_store_in_process_fails_closed_when_unreadable_and_reports_a_failed_save(tmp_path):
    from edged.mqtt.security import NonceStore, TrustError

    path = tmp_path / "nonces.json"
    path.write_text("{corrupt")
    t0 = 1_900_000_000.0
    store = NonceStore(path, 300, clock=lambda: t0)
    assert store.lost_at == t0
    with pytest.raises(TrustError, match="signed before frd started"):
        store.use("a" * 16, int(t0) - 10, t0 + 5)  # maybe used before the restart: refused
    store.use("b" * 16, int(t0) + 1, t0 + 5)  # signed after the start: fine
    with pytest.raises(TrustError, match="signed before frd started"):  # still, whatever the clock says
        store.use("c" * 16, int(t0) - 10, t0 + 301)
    again = NonceStore(path, 300)
    assert again.lost_at is None and again.floor == int(t0) + 1  # the saved file reads again, with its floor
    path.unlink()
    path.mkdir()  # cannot be replaced by a file: every save fails
    store = NonceStore(path, 300, clock=lambda: t0)
    with pytest.raises(TrustError, match="cannot save used command nonces"):  # fails closed: not run
        store.use("d" * 16, int(t0) + 1, t0 + 2)
    assert store.save_error and "refused until it can" in store.save_error and len(store) == 0


# ---------------------------------------------------------------- limits


def test_gallery_limits_refuse_one_person_too_many_and_one_sample_too_many(tmp_path):
    from edged.core.errors import InputError
    from edged.store.gallery import Gallery

    g = Gallery(tmp_path / "g", "sha", max_people=2, max_samples=3)
    one = np.ones((1, 4), np.float32)
    g.add("alice", np.ones((2, 4), np.float32), None, ["a", "b"])
    g.add("bob", one, None, ["a"])
    with pytest.raises(InputError, match="gallery is full: 2 people"):
        g.add("carol", one, None, ["a"])
    with pytest.raises(InputError, match="alice would have 4 samples; the limit is 3"):
        g.add("alice", np.ones((2, 4), np.float32), None, ["c", "d"])
    from edged.store.gallery import Person

    with pytest.raises(InputError, match="gallery is full"):
        g.replace(Person("carol", one, "sha", None, ["fleet:x"], 1.0))
    with pytest.raises(InputError, match="limit is 3"):
        g.replace(Person("bob", np.ones((4, 4), np.float32), "sha", None, ["fleet:x"], 1.0))
    assert Gallery(tmp_path / "g", "sha").names() == ["alice", "bob"]
    assert Gallery(tmp_path / "g", "sha").people["alice"].count == 2  # nothing half-done
