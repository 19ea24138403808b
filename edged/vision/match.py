"""Who is this face: normalised scores against the gallery, and a threshold that follows its size.

Three steps, all calibrated on thousands of people the model never saw, through the path the
daemon runs (detect, align, embed from photos; ``edged.tools.calibrate`` rebuilds everything here):

1. **Centring.** FaceNet's embeddings share a common component; subtracting the face-space centre
   before the cosine makes it measure what differs between faces.
2. **Cohort normalisation (adaptive s-norm).** Some people look like many others: a plain cosine
   lets them attract strangers ("magnets"). Each score is compared with how the same template, and
   the same probe, score against a shipped cohort of generic faces (public benchmark faces of
   people not in any user's gallery): ``z = ½((s − μ_t)/σ_t + (s − μ_p)/σ_p)`` over each side's
   ``k`` closest cohort faces. ``z`` reads as "how far above its look-alikes this match is".
3. **A threshold per strictness level that follows the gallery size.** With more people enrolled
   a stranger is likelier to resemble one of them; each level promises a rate of stranger faces
   named, and its threshold is ``a + b · ln(people enrolled)``, fitted on calibration galleries of
   1 to 50 people.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import DEFAULT_STRICTNESS, STRICTNESS_LEVELS
from ..core.errors import ModelError
from .embed import l2_normalize
from .modelfiles import model_dir

CALIBRATION_FILE = "facenet_int8.calibration.json"
COHORT_FILE = "facenet_int8.cohort.npy"
#: The calibration of pre-cropped faces (``--aligned``): a tight crop without background scores
#: strangers higher than a photo does, so it has its own cohort and thresholds, made the same way
#: from LFW photos cut to crops (``python -m edged.tools.calibrate LFW_DIR --crops``).
CROP_CALIBRATION_FILE = "facenet_int8.crops.calibration.json"
CROP_COHORT_FILE = "facenet_int8.crops.cohort.npy"


@dataclass(frozen=True)
class Level:
    """One strictness level: its promised stranger rate and threshold ``a + b·ln(n)``."""

    target: float
    a: float
    b: float

    def threshold(self, people: int) -> float:
        return self.a + self.b * math.log(max(people, 1))


@dataclass(frozen=True)
class Calibration:
    """What the matcher needs besides the gallery, for one model; shipped next to it."""

    model_sha256: str
    center: np.ndarray
    cohort: np.ndarray  # (n, d) centred unit embeddings of generic faces
    k: int
    levels: dict[str, Level]
    info: dict = field(default_factory=dict)  # provenance and the measured figures, for docs and tests
    #: The versions that decide an embedding (:func:`edged.core.stack.embedding_stack`) it was made with.
    stack: dict[str, str] = field(default_factory=dict)

    def threshold(self, strictness: str, people: int) -> float:
        try:
            return self.levels[strictness].threshold(people)
        except KeyError:
            raise ValueError(f"strictness must be one of {', '.join(STRICTNESS_LEVELS)}") from None

    def centred(self, embeddings: np.ndarray) -> np.ndarray:
        return l2_normalize(np.atleast_2d(embeddings).astype(np.float32) - self.center)

    def cohort_stats(self, centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread of each row's ``k`` highest cohort scores."""
        s = centred @ self.cohort.T
        top = np.partition(s, s.shape[1] - self.k, axis=1)[:, -self.k:]
        return top.mean(axis=1), np.maximum(top.std(axis=1), 1e-3)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_calibration(model_sha256: str, folder: Path | None = None, crops: bool = False) -> Calibration:
    """The shipped calibration of the model with ``model_sha256``; refuses one made for another model.

    ``crops``: the one for pre-cropped faces (:data:`CROP_CALIBRATION_FILE`), not for photos and frames."""
    folder = folder or model_dir()
    path = folder / (CROP_CALIBRATION_FILE if crops else CALIBRATION_FILE)
    try:
        data = json.loads(path.read_text())
        cohort_path = folder / data["cohort_file"]
        if _sha256(cohort_path) != data["cohort_sha256"]:
            raise ModelError(f"{cohort_path}: sha256 differs from {path}: rebuild with python -m edged.tools.calibrate")
        cohort = np.load(cohort_path, allow_pickle=False).astype(np.float32)
        center = np.asarray(data["center"], np.float32)
        levels = {k: Level(float(v["target"]), float(v["a"]), float(v["b"])) for k, v in data["levels"].items()}
        sha, k = str(data["model_sha256"]).lower(), int(data["k"])
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{path}: unreadable calibration ({e}); rebuild it with "
                         f"python -m edged.tools.calibrate{' --crops' if crops else ''}") from e
    if sha != model_sha256.lower():
        raise ModelError(f"{path}: made for model {sha[:12]}, not {model_sha256[:12]}: rebuild it with "
                         "python -m edged.tools.calibrate")
    if (set(levels) != set(STRICTNESS_LEVELS) or cohort.ndim != 2 or cohort.shape[1] != center.shape[0]
            or not 0 < k <= len(cohort)):
        raise ModelError(f"{path}: inconsistent calibration (levels, cohort shape or k)")
    if not (np.all(np.isfinite(cohort)) and np.all(np.isfinite(center))):
        raise ModelError(f"{path}: the calibration holds non-finite numbers")
    return Calibration(sha, center, l2_normalize(cohort), k, levels, data.get("info", {}), dict(data.get("stack", {})))


def threshold_for(calibration: Calibration | None, strictness: str = DEFAULT_STRICTNESS,
                  threshold: float | None = None, people: int = 1) -> float:
    """An explicit ``threshold`` wins; otherwise the strictness level's threshold for ``people`` enrolled."""
    if threshold is not None:
        return float(threshold)
    if strictness not in STRICTNESS_LEVELS:
        raise ValueError(f"strictness must be one of {', '.join(STRICTNESS_LEVELS)}")
    if calibration is None:
        raise ValueError("a strictness level needs the model's calibration")
    return calibration.threshold(strictness, people)


@dataclass(frozen=True)
class Match:
    """Best person for one face; ``name`` is None below the threshold."""

    name: str | None
    score: float
    best: str | None


@dataclass(frozen=True)
class _Snapshot:
    names: list[str]
    templates: np.ndarray  # (people, d), centred unit
    mean: np.ndarray  # per template: cohort mean and spread (s-norm)
    std: np.ndarray
    threshold: float


class Matcher:
    """Nearest person by normalised score to each person's mean (centred) embedding.

    With a ``calibration`` (frd's matcher) scores are cohort-normalised and the threshold is the
    ``strictness`` level's for the gallery's size, unless ``threshold`` fixes it. Without one the
    score is the plain cosine to the mean (the baseline ``frd eval`` compares against) and
    ``threshold`` is required.
    """

    def __init__(self, calibration: Calibration | None = None, strictness: str = DEFAULT_STRICTNESS,
                 threshold: float | None = None) -> None:
        if calibration is None and threshold is None:
            raise ValueError("a matcher without calibration needs a fixed threshold")
        self.calibration = calibration
        self.strictness = strictness
        self.fixed_threshold = threshold
        # swapped as one object, so a gallery update from the command thread never meets a half-built state;
        # building the empty one also refuses an unknown strictness level here, not at the first enrollment
        self._snap = self._build({})

    def _centred(self, embeddings: np.ndarray) -> np.ndarray:
        e = np.atleast_2d(embeddings).astype(np.float32)
        return l2_normalize(e) if self.calibration is None else self.calibration.centred(e)

    def _build(self, people: dict[str, np.ndarray]) -> _Snapshot:
        names = sorted(people)
        t = threshold_for(self.calibration, self.strictness, self.fixed_threshold, len(names))
        if not names:
            z = np.zeros(0, np.float32)
            return _Snapshot([], np.zeros((0, 0), np.float32), z, z, t)
        m = l2_normalize(np.stack([self._centred(people[n]).mean(axis=0) for n in names])).astype(np.float32)
        if self.calibration is None:
            mean, std = np.zeros(len(names), np.float32), np.ones(len(names), np.float32)
        else:
            mean, std = self.calibration.cohort_stats(m)
        return _Snapshot(names, m, mean, std, t)

    def set_gallery(self, people: dict[str, np.ndarray]) -> None:
        """Replace the gallery: ``{name: (n, d) unit embeddings}``; the threshold follows its size."""
        self._snap = self._build(people)

    @property
    def names(self) -> list[str]:
        return list(self._snap.names)

    @property
    def threshold(self) -> float:
        """The threshold in force for the current gallery."""
        return self._snap.threshold

    def _scores(self, embeddings: np.ndarray, snap: _Snapshot) -> np.ndarray:
        e = self._centred(embeddings)
        if not snap.names:
            return np.zeros((len(e), 0), np.float32)
        s = e @ snap.templates.T
        if self.calibration is None:
            return s
        pm, ps = self.calibration.cohort_stats(e)
        return 0.5 * ((s - snap.mean) / snap.std + (s - pm[:, None]) / ps[:, None])

    def match(self, embeddings: np.ndarray) -> list[Match]:
        snap = self._snap
        s = self._scores(embeddings, snap)
        if s.shape[1] == 0:
            return [Match(None, 0.0, None) for _ in range(len(s))]
        out = []
        for row, i in zip(s, s.argmax(axis=1), strict=True):
            score, best = float(row[i]), snap.names[i]
            out.append(Match(best if score >= snap.threshold else None, score, best))
        return out
