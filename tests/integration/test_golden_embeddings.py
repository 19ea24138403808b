"""A stack change that moves embeddings is caught here, not by a user: fixed photos through ``frd embed`` (the
daemon's photo path) give the stored boxes and embeddings, with frd's kernels and with TFLite's reference
kernels (tests/golden_embeddings.py says how each tolerance was chosen and how to store them again after a
deliberate change)."""

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
    assert all(set(row) == {"box", *golden.MAX_DRIFT} for row in stored["photos"].values())


@pytest.mark.timeout(1200)
def test_todays_stack_embeds_the_golden_photos_as_stored(data, stored) -> None:
    rows = golden.drift(golden.embed(data), stored["photos"])
    moved = golden.beyond(rows)
    assert not moved, (f"embeddings moved beyond 1 - cosine {golden.MAX_DRIFT} (or boxes beyond "
                       f"{golden.MAX_BOX_SHIFT} px) from those stored with {stored['stack']}, on this stack "
                       f"{golden.stack()}: {moved}")
