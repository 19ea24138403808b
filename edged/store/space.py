"""Embedding spaces: what makes two embeddings comparable (the model and the chip cut).

Every gallery sample, ignore-list entry, backup and fleet record says which space it was made in; one made
in another space is stale here (it is never compared with today's embeddings).
"""

from __future__ import annotations

#: The chip cut of samples stored before the cut was recorded (dlib's landmark chip, padding 0.35).
LEGACY_CHIP = "dlib-0.35-160"


def embedding_space(model_sha256: str, chip: str) -> str:
    """What makes two embeddings comparable: the model *and* how the face's chip was cut (the same model on
    another cut scores differently). Every sample records it (``Person.model_sha256``); a gallery, a backup
    or a fleet record made in another space is stale here."""
    return f"{model_sha256}+{chip}"


def chip_of(space: str) -> str:
    """The chip cut of an embedding space (a bare model sha256: samples from before the cut was recorded)."""
    return space.partition("+")[2] or LEGACY_CHIP


def describe_space(space: str) -> str:
    """``model 1234abcd5678, chip landmarkbox-0.1-160``: for messages (the whole key is 80 characters)."""
    return f"model {space.partition('+')[0][:12]}, chip {chip_of(space)}"
