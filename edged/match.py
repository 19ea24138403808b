"""Cosine matching of embeddings against the gallery.

Each person is represented by the normalised mean of their embeddings: with
few enrollment images it is steadier than the best single sample and costs one
dot product per person. frd's matcher first subtracts the face-space centre
(:mod:`edged.cohort`) from every embedding, gallery and probe alike, so the
cosine measures what differs between faces; the candidates that were measured
and not chosen are in README, "Strangers stay strangers".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .embed import l2_normalize

#: The one knob: how sure frd must be before it names someone. Centred cosine
#: thresholds for the shipped int8 model, chosen with ``frd eval`` on
#: aligned112 stranger folds (README, "Choosing the threshold"):
#: strict ≈ strangers named <= 1 % of single images, balanced ≈ <= 5 %,
#: lenient names more enrolled people and more strangers.
STRICTNESS: dict[str, float] = {"strict": 0.47, "balanced": 0.42, "lenient": 0.37}
DEFAULT_STRICTNESS = "strict"
#: The threshold of the default strictness (centred cosine).
DEFAULT_THRESHOLD = STRICTNESS[DEFAULT_STRICTNESS]


def threshold_for(strictness: str = DEFAULT_STRICTNESS, threshold: float | None = None) -> float:
    """An explicit ``threshold`` wins; otherwise the strictness level's threshold."""
    if threshold is not None:
        return float(threshold)
    try:
        return STRICTNESS[strictness]
    except KeyError:
        raise ValueError(f"strictness must be one of {', '.join(STRICTNESS)}") from None


@dataclass(frozen=True)
class Match:
    """Best person for one face; ``name`` is None below the threshold."""

    name: str | None
    score: float
    best: str | None


class Matcher:
    """Nearest person by cosine similarity to each person's mean embedding.

    ``center``: the face-space centre subtracted from every embedding before
    the cosine (frd's matcher); None gives plain cosine (the baseline that
    ``frd eval`` compares against; :data:`STRICTNESS` does not apply to it).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, mode: str = "mean",
                 center: np.ndarray | None = None) -> None:
        if mode not in ("mean", "max"):
            raise ValueError("mode must be 'mean' or 'max'")
        self.threshold = threshold
        self.mode = mode
        self.center = None if center is None else np.asarray(center, np.float32)
        # (names, matrix, owner row per matrix row), swapped as one object so a
        # gallery update from the command thread never meets a half-built state
        self._snap: tuple[list[str], np.ndarray, np.ndarray] = ([], np.zeros((0, 0), np.float32), np.zeros(0, int))

    def _prepare(self, embeddings: np.ndarray) -> np.ndarray:
        e = np.atleast_2d(embeddings).astype(np.float32)
        return e if self.center is None else l2_normalize(e - self.center)

    def set_gallery(self, people: dict[str, np.ndarray]) -> None:
        """Replace the gallery: ``{name: (n, d) unit embeddings}``."""
        names = sorted(people)
        if not names:
            self._snap = ([], np.zeros((0, 0), np.float32), np.zeros(0, int))
        elif self.mode == "mean":
            m = np.stack([self._prepare(people[n]).mean(axis=0) for n in names])
            m = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
            self._snap = (names, m, np.arange(len(names)))
        else:
            matrix = np.concatenate([self._prepare(people[n]) for n in names]).astype(np.float32)
            owner = np.concatenate([np.full(len(people[n]), i) for i, n in enumerate(names)])
            self._snap = (names, matrix, owner)

    @property
    def names(self) -> list[str]:
        return list(self._snap[0])

    def _scores(self, embeddings: np.ndarray, snap: tuple) -> np.ndarray:
        names, matrix, owner = snap
        e = self._prepare(embeddings)
        if not names:
            return np.zeros((len(e), 0), np.float32)
        sims = e @ matrix.T
        if self.mode == "mean":
            return sims
        out = np.full((len(e), len(names)), -1.0, np.float32)
        np.maximum.at(out.T, owner, sims.T)
        return out

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """(k, people) best cosine similarity of each face to each person."""
        return self._scores(embeddings, self._snap)

    def match(self, embeddings: np.ndarray) -> list[Match]:
        snap = self._snap
        s = self._scores(embeddings, snap)
        if s.shape[1] == 0:
            return [Match(None, 0.0, None) for _ in range(len(s))]
        out = []
        for row, i in zip(s, s.argmax(axis=1), strict=True):
            score, best = float(row[i]), snap[0][i]
            out.append(Match(best if score >= self.threshold else None, score, best))
        return out
