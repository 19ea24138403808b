"""Enrollment: the largest face of each image becomes a gallery sample.

Shared by the CLI and the MQTT command handler so both refuse the same
things with the same words. All accepted faces of one request are written in
one gallery update: a request either lands whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .gallery import Gallery
from .names import validate_name
from .pipeline import Pipeline


@dataclass
class EnrollResult:
    name: str
    added: int = 0
    rejected: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"name": self.name, "added": self.added, "rejected": self.rejected}


def enroll(
    pipeline: Pipeline,
    gallery: Gallery,
    name: str,
    images: list[tuple[str, np.ndarray | InputError]],
    aligned: bool = False,
    keep_crops: bool = True,
) -> EnrollResult:
    """Enroll ``name`` from ``(label, rgb or decode error)`` pairs; raises InputError for a bad name."""
    validate_name(name)
    result = EnrollResult(name)
    chips, embs, labels = [], [], []
    for label, img in images:
        if isinstance(img, InputError):
            result.rejected.append({"image": label, "reason": str(img)})
            continue
        faces = pipeline.faces(img, aligned=aligned, largest_only=True)
        if not faces:
            result.rejected.append({"image": label, "reason": "no face found"})
            continue
        chips.append(faces[0].chip)
        embs.append(faces[0].embedding)
        labels.append(label.rsplit("/", 1)[-1])
    if embs:
        gallery.add(name, np.stack(embs), np.stack(chips) if keep_crops else None, labels)
        result.added = len(embs)
    return result
