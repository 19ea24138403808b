"""A stack change that moves embeddings is caught here, not by a user: fixed photos through ``frd embed`` (the
daemon's photo path) give the stored embeddings and boxes (tests/golden_embeddings.py says how the tolerance
was chosen and how to re-store them after a deliberate change)."""

from __future__ import annotations

import json

import pytest

from tests import golden_embeddings as golden


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads(golden.GOLDEN.read_text())


def test_the_golden_set_is_every_photo_it_names(data, stored) -> None:
    wanted = golden.photos(data)
    assert sorted(stored["photos"]) == sorted(wanted["photos"] + wanted["aligned"])
    assert set(stored["stack"]) == set(golden.STACK)


def test_todays_stack_embeds_the_golden_photos_as_stored(data, stored) -> None:
    rows = golden.drift(golden.embed(data), stored["photos"])
    moved = {p: r for p, r in rows.items() if r.get("missing") or r["drift"] > golden.MAX_DRIFT
             or r["box_shift"] > golden.MAX_BOX_SHIFT}
    assert not moved, (f"embeddings moved beyond 1 - cosine {golden.MAX_DRIFT} (or boxes beyond "
                       f"{golden.MAX_BOX_SHIFT} px) from those stored with {stored['stack']}, on this stack "
                       f"{golden.stack()}: {moved}")
