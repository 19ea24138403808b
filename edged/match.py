"""Cosine matching of embeddings against the gallery.

Each person is represented by the normalised mean of their embeddings: with
few enrollment images it is steadier than the best single sample and costs one
dot product per person (measured in README, "Choosing the threshold").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default cosine threshold for the shipped int8 model, chosen with
#: ``frd eval`` so that never-enrolled faces are named at most 5 % of the
#: time on single images (see README, "Choosing the threshold").
DEFAULT_THRESHOLD = 0.50


@dataclass(frozen=True)
class Match:
    """Best person for one face; ``name`` is None below the threshold."""

    name: str | None
    score: float
    best: str | None


class Matcher:
    """Nearest person by cosine similarity to each person's mean embedding."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, mode: str = "mean") -> None:
        if mode not in ("mean", "max"):
            raise ValueError("mode must be 'mean' or 'max'")
        self.threshold = threshold
        self.mode = mode
        # (names, matrix, owner row per matrix row), swapped as one object so a
        # gallery update from the command thread never meets a half-built state
        self._snap: tuple[list[str], np.ndarray, np.ndarray] = ([], np.zeros((0, 0), np.float32), np.zeros(0, int))

    def set_gallery(self, people: dict[str, np.ndarray]) -> None:
        """Replace the gallery: ``{name: (n, d) unit embeddings}``."""
        names = sorted(people)
        if not names:
            self._snap = ([], np.zeros((0, 0), np.float32), np.zeros(0, int))
        elif self.mode == "mean":
            m = np.stack([people[n].mean(axis=0) for n in names])
            m = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
            self._snap = (names, m, np.arange(len(names)))

        else:
            matrix = np.concatenate([people[n] for n in names]).astype(np.float32)
            owner = np.concatenate([np.full(len(people[n]), i) for i, n in enumerate(names)])
            self._snap = (names, matrix, owner)

    @property
    def names(self) -> list[str]:
        return list(self._snap[0])

    @staticmethod
    def _scores(embeddings: np.ndarray, snap: tuple, mode: str) -> np.ndarray:
        names, matrix, owner = snap
        e = np.atleast_2d(embeddings).astype(np.float32)
        if not names:
            return np.zeros((len(e), 0), np.float32)
        sims = e @ matrix.T
        if mode == "mean":
            return sims
        out = np.full((len(e), len(names)), -1.0, np.float32)
        np.maximum.at(out.T, owner, sims.T)
        return out

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """(k, people) best cosine similarity of each face to each person."""
        return self._scores(embeddings, self._snap, self.mode)

    def match(self, embeddings: np.ndarray) -> list[Match]:
        snap = self._snap
        s = self._scores(embeddings, snap, self.mode)
        if s.shape[1] == 0:
            return [Match(None, 0.0, None) for _ in range(len(s))]
        out = []
        for row, i in zip(s, s.argmax(axis=1), strict=True):
            score, best = float(row[i]), snap[0][i]
            out.append(Match(best if score >= self.threshold else None, score, best))
        return out
