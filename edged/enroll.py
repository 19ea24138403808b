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
from .pipeline import Face, Pipeline
from .quality import assess, enrollment_verdict, photos_advice


@dataclass
class EnrollResult:
    name: str
    added: int = 0
    rejected: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    advice: str | None = None

    def as_dict(self) -> dict:
        return {"name": self.name, "added": self.added, "rejected": self.rejected, "warnings": self.warnings,
                "advice": self.advice}


def screen(faces: list[tuple[str, Face]], result: EnrollResult) -> list[tuple[str, Face]]:
    """The faces good enough to enroll; the others go to ``result.rejected``, doubts to ``result.warnings``."""
    kept = []
    for label, face in faces:
        why, warnings = enrollment_verdict(assess(face.face_px, face.chip, face.points))
        if why is not None:
            result.rejected.append({"image": label, "reason": why})
            continue
        result.warnings += [{"image": label, "warning": w} for w in warnings]
        kept.append((label, face))
    return kept


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
    found = []
    for label, img in images:
        if isinstance(img, InputError):
            result.rejected.append({"image": label, "reason": str(img)})
            continue
        faces = pipeline.faces(img, aligned=aligned, largest_only=True)
        if not faces:
            result.rejected.append({"image": label, "reason": "no face found"})
            continue
        found.append((label, faces[0]))
    kept = screen(found, result)
    if kept:
        gallery.add(name, np.stack([f.embedding for _, f in kept]),
                    np.stack([f.chip for _, f in kept]) if keep_crops else None,
                    [label.rsplit("/", 1)[-1] for label, _ in kept])
        result.added = len(kept)
        result.advice = photos_advice(name, gallery.people[name].count)
    return result
