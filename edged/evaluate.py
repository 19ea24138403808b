"""``frd eval``: how often the matcher names the right person, and how often a stranger.

Identities are split into folds; each fold in turn plays the strangers while
the others are enrolled with ``shots`` images each. Pooled over folds this
gives the open-set curve (enrolled people named correctly vs strangers named
as someone) from which the default threshold is chosen, plus closed-set
best-match top-1 with every identity enrolled.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .camera import folder_images
from .images import load_image
from .match import DEFAULT_THRESHOLD, Matcher

THRESHOLDS = np.round(np.arange(0.20, 0.901, 0.01), 2)


def _natural(p: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.stem)]


def load_dataset(root: Path) -> dict[str, list[Path]]:
    """``{identity: [images sorted naturally]}`` for a folder of identity folders."""
    data = {d.name: sorted(folder_images(d), key=_natural) for d in sorted(root.iterdir()) if d.is_dir()}
    return {k: v for k, v in data.items() if v}


def chips_for(data: dict[str, list[Path]], aligner, detector=None) -> dict[str, np.ndarray]:
    """Aligned chips per identity: landmarks on the whole crop, or on the largest detected face."""
    out = {}
    for ident, paths in data.items():
        chips = []
        for p in paths:
            rgb = load_image(p)
            if detector is None:
                chips.append(aligner.chip_whole(rgb))
            else:
                boxes = detector.detect(rgb)
                if boxes:
                    chips.append(aligner.chip(rgb, boxes[0]))
        out[ident] = np.stack(chips)
    return out


@dataclass
class OpenSet:
    thresholds: np.ndarray
    tpir: np.ndarray  # enrolled probes named correctly, per threshold
    fpir: np.ndarray  # stranger probes named as someone, per threshold
    genuine: int
    strangers: int

    def tpir_at(self, max_fpir: float) -> tuple[float, float]:
        """(best TPIR, lowest threshold) with FPIR <= max_fpir."""
        ok = np.nonzero(self.fpir <= max_fpir)[0]
        if not len(ok):
            return 0.0, float("nan")
        i = ok[np.argmax(self.tpir[ok])]
        return float(self.tpir[i]), float(self.thresholds[i])

    def at(self, threshold: float) -> tuple[float, float]:
        i = int(np.argmin(np.abs(self.thresholds - threshold)))
        return float(self.tpir[i]), float(self.fpir[i])


def closed_set_top1(emb: dict[str, np.ndarray], shots: int, mode: str) -> float:
    m = Matcher(threshold=-1.0, mode=mode)
    m.set_gallery({k: v[:shots] for k, v in emb.items()})
    hits = total = 0
    for ident, e in emb.items():
        for r in m.match(e[shots:]):
            hits += r.best == ident
            total += 1
    return hits / max(total, 1)


def open_set(emb: dict[str, np.ndarray], shots: int, folds: int, mode: str) -> OpenSet:
    idents = sorted(emb)
    gen_scores, gen_right, str_scores = [], [], []
    for f in range(folds):
        strangers = set(idents[f::folds])
        m = Matcher(threshold=-1.0, mode=mode)
        m.set_gallery({k: emb[k][:shots] for k in idents if k not in strangers})
        for ident in idents:
            probes = emb[ident] if ident in strangers else emb[ident][shots:]
            for r in m.match(probes):
                if ident in strangers:
                    str_scores.append(r.score)
                else:
                    gen_scores.append(r.score)
                    gen_right.append(r.best == ident)
    gs, gr, ss = np.array(gen_scores), np.array(gen_right), np.array(str_scores)
    tpir = np.array([np.mean(gr & (gs >= t)) for t in THRESHOLDS])
    fpir = np.array([np.mean(ss >= t) for t in THRESHOLDS])
    return OpenSet(THRESHOLDS, tpir, fpir, len(gs), len(ss))


def evaluate(emb: dict[str, np.ndarray], shots: int, folds: int) -> dict:
    res: dict = {"identities": len(emb), "images": int(sum(len(v) for v in emb.values())), "shots": shots}
    for mode in ("mean", "max"):
        osr = open_set(emb, shots, folds, mode)
        t1, th1 = osr.tpir_at(0.01)
        t5, th5 = osr.tpir_at(0.05)
        at = osr.at(DEFAULT_THRESHOLD)
        res[mode] = {
            "top1": round(closed_set_top1(emb, shots, mode), 4),
            "tpir_at_fpir_1pct": round(t1, 4), "threshold_at_fpir_1pct": th1,
            "tpir_at_fpir_5pct": round(t5, 4), "threshold_at_fpir_5pct": th5,
            "at_default_threshold": dict(zip(("tpir", "fpir"), (round(v, 4) for v in at), strict=True)),
            "curve": [
                [float(t), round(float(a), 4), round(float(b), 4)]
                for t, a, b in zip(osr.thresholds, osr.tpir, osr.fpir, strict=True)
            ],
            "genuine_probes": osr.genuine, "stranger_probes": osr.strangers,
        }
    return res


def plot(results: dict[str, dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, r in results.items():
        c = np.array(r["mean"]["curve"])
        ax.plot(c[:, 2], c[:, 1], label=label)
        d = r["mean"]["at_default_threshold"]
        ax.plot([d["fpir"]], [d["tpir"]], "o", color="black")
    ax.annotate(f"default threshold {DEFAULT_THRESHOLD}", (d["fpir"], d["tpir"]), textcoords="offset points",
                xytext=(-40, 20))
    ax.axvline(0.05, color="grey", ls=":", lw=1)
    ax.axvline(0.01, color="grey", ls=":", lw=1)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 1)
    ax.set_ylim(0.5, 1)
    ax.set_xlabel("strangers named as someone (FPIR)")
    ax.set_ylabel("enrolled people named correctly (TPIR)")
    ax.set_title("frd open-set identification, single images")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main(args: argparse.Namespace) -> int:
    from .align import Aligner
    from .embed import PREDICTOR_FILE, TFLiteEmbedder, model_dir

    data = load_dataset(args.data)
    aligner = Aligner(model_dir() / PREDICTOR_FILE)
    t0 = time.perf_counter()
    chips = chips_for(data, aligner)
    embedders = [("int8", TFLiteEmbedder())]
    if args.float:
        from .reference import FloatFaceNet

        embedders.append(("float", FloatFaceNet()))
    results = {}
    for label, e in embedders:
        emb = {k: e.embed(v) for k, v in chips.items()}
        results[label] = {"model": e.name, **evaluate(emb, args.shots, args.folds)}
    if args.plot:
        plot(results, args.plot)
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{args.data}: {len(data)} identities, {args.shots} shots, {args.folds} stranger folds "
          f"({time.perf_counter() - t0:.0f} s)")
    for label, r in results.items():
        for mode in ("mean", "max"):
            m = r[mode]
            print(f"{label:6s} {mode:4s} top1={m['top1']:.4f}  "
                  f"TPIR@FPIR<=1%={m['tpir_at_fpir_1pct']:.3f} (t={m['threshold_at_fpir_1pct']:.2f})  "
                  f"TPIR@FPIR<=5%={m['tpir_at_fpir_5pct']:.3f} (t={m['threshold_at_fpir_5pct']:.2f})  "
                  f"at t={DEFAULT_THRESHOLD}: TPIR={m['at_default_threshold']['tpir']:.3f} "
                  f"FPIR={m['at_default_threshold']['fpir']:.3f}")
    return 0
