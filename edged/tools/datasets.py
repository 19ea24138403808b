"""The face data frd is measured on: folders of identity folders, and LFW (its View-2 pairs and folds).

``frd eval``, ``python -m edged.tools.calibrate``, the benchmarks and the tests read them here, so they split
people the same way.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..vision.camera import folder_images


def _natural(p: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.stem)]


def load_dataset(root: Path) -> dict[str, list[Path]]:
    """``{identity: [images sorted naturally]}`` for a folder of identity folders."""
    data = {d.name: sorted(folder_images(d), key=_natural) for d in sorted(root.iterdir()) if d.is_dir()}
    return {k: v for k, v in data.items() if v}


def lfw_pairs(root: Path) -> list[tuple[int, str, int, str, int]]:
    """``(fold, person1, n1, person2, n2)`` from ``pairs.txt``; a fold is a block of same then different pairs."""
    pairs, fold, prev = [], 0, None
    for line in (root / "pairs.txt").read_text().splitlines():
        f = line.split()
        if len(f) not in (3, 4):
            continue
        if prev == 4 and len(f) == 3:
            fold += 1
        prev = len(f)
        if len(f) == 3:
            pairs.append((fold, f[0], int(f[1]), f[0], int(f[2])))
        else:
            pairs.append((fold, f[0], int(f[1]), f[2], int(f[3])))
    return pairs


def person_folds(people: dict[str, list[Path]], pairs: list) -> dict[str, int]:
    """Each person's LFW fold (from the pairs; people in no pair by a stable hash)."""
    fold: dict[str, int] = {}
    for f, a, _, b, _ in pairs:
        fold.setdefault(a, f)
        fold.setdefault(b, f)
    return {p: fold.get(p, zlib.crc32(p.encode()) % 5) for p in people}


@dataclass(frozen=True)
class Lfw:
    """An LFW folder read once: everyone's photos, the View-2 pairs and each person's fold.

    ``python -m edged.tools.calibrate`` and ``frd eval LFW_DIR`` both start here, so they split people the same way.
    """

    root: Path
    people: dict[str, list[Path]]
    pairs: list[tuple[int, str, int, str, int]]
    folds: dict[str, int]

    @classmethod
    def load(cls, root: Path) -> Lfw:
        people = load_dataset(root)
        pairs = lfw_pairs(root)
        return cls(root, people, pairs, person_folds(people, pairs))

    def people_in(self, folds: tuple[int, ...]) -> set[str]:
        return {p for p, f in self.folds.items() if f in folds}

    def photos_in(self, folds: tuple[int, ...]) -> dict[str, list[Path]]:
        """``{person: photos}`` of the people in ``folds``, in the folder's order."""
        keep = self.people_in(folds)
        return {p: v for p, v in self.people.items() if p in keep}
