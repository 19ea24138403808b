"""``frd eval``: how often the matcher names the right person, and how often a stranger.

Identities are split into folds; each fold in turn plays the strangers while
the others are enrolled with ``shots`` images each. Pooled over folds this
gives the open-set curve (enrolled people named correctly vs strangers named
as someone) and the operating points at <= 1 % and <= 5 % strangers named,
plus closed-set best-match top-1 with every identity enrolled.

Two matchers are measured in one run on the same embeddings: frd's (centred,
cohort-normalised score to each person's mean, :mod:`edged.vision.match`) and the plain
baseline (cosine to the mean, frd's first matcher). Besides
the best operating point on the pooled curve (which picks its threshold on the
very probes it scores), "held-out" rates pick the threshold on the other folds
and apply it to the fold's own identities, which is what a shipped threshold
faces; and frd's shipped strictness levels are scored as they are.

A folder in LFW's layout (``pairs.txt`` beside the person folders) is measured the way the
shipped calibration was made (:mod:`edged.tools.calibrate`): on its held-out people, galleries of
several sizes, every strictness level, the worst "magnet", and pair verification.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import STRICTNESS_LEVELS
from ..vision.images import load_image
from ..vision.match import Calibration, Matcher
from .datasets import Lfw, load_dataset

#: Threshold grid of the curves: fine enough for dlib's ResNet, whose cosines crowd near 0.93, and
#: wide enough for frd's normalised scores.
THRESHOLDS = np.round(np.concatenate([np.arange(-0.2, 1.0, 0.001), np.arange(1.0, 12.0005, 0.005)]), 3)
#: The plain baseline's threshold frd's first matcher shipped with.
BASELINE_THRESHOLD = 0.50


def chips_for(data: dict[str, list[Path]], aligner, detector=None, dlib_chips: dict | None = None
              ) -> dict[str, np.ndarray]:
    """Chips per identity: landmarks on the whole crop, or on the largest detected face.

    With ``dlib_chips`` (a dict), the 150 px chips of dlib's ResNet are cut from the same landmarks into it.
    """
    from ..core.models import Box
    from .reference import DlibResNet

    out = {}
    for ident, paths in data.items():
        chips, dchips = [], []
        for p in paths:
            rgb = load_image(p)
            if detector is None:
                h, w = rgb.shape[:2]
                box = Box(0, 0, w, h)
            else:
                boxes = detector.detect(rgb)
                if not boxes:
                    continue
                box = boxes[0]
            chips.append(aligner.chip(rgb, box))
            if dlib_chips is not None:
                dchips.append(DlibResNet.chip(rgb, aligner.landmarks(rgb, box)))
        out[ident] = np.stack(chips)
        if dlib_chips is not None:
            dlib_chips[ident] = np.stack(dchips)
    return out


def _fpir_tpir(gs: np.ndarray, gr: np.ndarray, ss: np.ndarray, thresholds: np.ndarray) -> tuple:
    right = np.sort(gs[gr])
    tpir = (len(right) - np.searchsorted(right, thresholds, side="left")) / max(len(gs), 1)
    st = np.sort(ss)
    fpir = (len(st) - np.searchsorted(st, thresholds, side="left")) / max(len(ss), 1)
    return tpir, fpir


def _best_threshold(tpir: np.ndarray, fpir: np.ndarray, max_fpir: float) -> int | None:
    ok = np.nonzero(fpir <= max_fpir)[0]
    return None if not len(ok) else int(ok[np.argmax(tpir[ok])])


@dataclass
class OpenSet:
    thresholds: np.ndarray
    tpir: np.ndarray  # enrolled probes named correctly, per threshold
    fpir: np.ndarray  # stranger probes named as someone, per threshold
    genuine: int
    strangers: int
    #: per fold: (genuine scores, genuine best-is-right, stranger scores)
    folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def tpir_at(self, max_fpir: float) -> tuple[float, float]:
        """(best TPIR, lowest threshold) with FPIR <= max_fpir."""
        i = _best_threshold(self.tpir, self.fpir, max_fpir)
        if i is None:
            return 0.0, float("nan")
        return float(self.tpir[i]), float(self.thresholds[i])

    def at(self, threshold: float) -> tuple[float, float]:
        """(TPIR, FPIR) at ``threshold``."""
        gs, gr, ss = (np.concatenate(x) for x in zip(*self.folds, strict=True))
        t, f = _fpir_tpir(gs, gr, ss, np.array([threshold]))
        return float(t[0]), float(f[0])

    def held_out(self, max_fpir: float) -> tuple[float, float]:
        """(TPIR, FPIR) when each fold is scored at the threshold chosen on the other folds."""
        tp = fp = ng = ns = 0.0
        for i, (gs, gr, ss) in enumerate(self.folds):
            rest = [f for j, f in enumerate(self.folds) if j != i]
            rg, rr, rs = (np.concatenate(x) for x in zip(*rest, strict=True))
            k = _best_threshold(*_fpir_tpir(rg, rr, rs, self.thresholds), max_fpir)
            t = np.inf if k is None else self.thresholds[k]
            tp += np.sum(gr & (gs >= t))
            fp += np.sum(ss >= t)
            ng += len(gs)
            ns += len(ss)
        return tp / max(ng, 1), fp / max(ns, 1)


def _scorer(cal: Calibration | None) -> Matcher:
    """A matcher that names the best person whatever the score (the curves choose the thresholds)."""
    return Matcher(cal, threshold=-np.inf)


def closed_set_top1(emb: dict[str, np.ndarray], shots: int, cal: Calibration | None = None) -> float:
    m = _scorer(cal)
    m.set_gallery({k: v[:shots] for k, v in emb.items()})
    hits = total = 0
    for ident, e in emb.items():
        for r in m.match(e[shots:]):
            hits += r.best == ident
            total += 1
    return hits / max(total, 1)


def open_set(emb: dict[str, np.ndarray], shots: int, folds: int, cal: Calibration | None = None) -> OpenSet:
    idents = sorted(emb)
    per_fold = []
    for f in range(folds):
        strangers = set(idents[f::folds])
        m = _scorer(cal)
        m.set_gallery({k: emb[k][:shots] for k in idents if k not in strangers})
        gen_scores, gen_right, str_scores = [], [], []
        for ident in idents:
            probes = emb[ident] if ident in strangers else emb[ident][shots:]
            for r in m.match(probes):
                if ident in strangers:
                    str_scores.append(r.score)
                else:
                    gen_scores.append(r.score)
                    gen_right.append(r.best == ident)
        per_fold.append((np.array(gen_scores, np.float64), np.array(gen_right, bool), np.array(str_scores, np.float64)))
    gs, gr, ss = (np.concatenate(x) for x in zip(*per_fold, strict=True))
    tpir, fpir = _fpir_tpir(gs, gr, ss, THRESHOLDS)
    return OpenSet(THRESHOLDS, tpir, fpir, len(gs), len(ss), per_fold)


def _r(x: float) -> float:
    return round(float(x), 4)


def summarize(emb: dict[str, np.ndarray], shots: int, folds: int, cal: Calibration | None,
              levels: dict[str, float]) -> dict:
    """Closed-set top-1, the open-set curve and its operating points for one matcher."""
    osr = open_set(emb, shots, folds, cal)
    out: dict = {"top1": _r(closed_set_top1(emb, shots, cal)),
                 "genuine_probes": osr.genuine, "stranger_probes": osr.strangers}
    for pct in (1, 5):
        t, th = osr.tpir_at(pct / 100)
        ht, hf = osr.held_out(pct / 100)
        out[f"tpir_at_fpir_{pct}pct"] = _r(t)
        out[f"threshold_at_fpir_{pct}pct"] = th
        out[f"held_out_{pct}pct"] = {"tpir": _r(ht), "fpir": _r(hf)}
    out["levels"] = {k: dict(zip(("threshold", "tpir", "fpir"), (t, *map(_r, osr.at(t))), strict=True))
                     for k, t in levels.items()}
    keep = np.isclose(osr.thresholds * 100, np.round(osr.thresholds * 100)) | (osr.thresholds >= 0.8)
    out["curve"] = [[float(t), _r(a), _r(b)] for t, a, b, k in
                    zip(osr.thresholds, osr.tpir, osr.fpir, keep, strict=True) if k]
    return out


def _per_face_ms(fn, items: list, repeat: int = 3) -> float:
    fn(items[0])  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        runs.append((time.perf_counter() - t0) / len(items))
    return 1000 * statistics.median(runs)


def cost_per_face(embedder, chips: np.ndarray, gallery: dict[str, np.ndarray], cal: Calibration) -> dict:
    """Embed + match, one face at a time as the pipeline does, for the baseline and frd's matcher.

    Both paths run in this process on the same chips, interleaved, so the ratio is fair on a busy machine.
    """
    base, frd = Matcher(None, threshold=0.5), Matcher(cal)
    base.set_gallery(gallery)
    frd.set_gallery(gallery)
    chips = list(chips)
    b_ms, f_ms = [], []
    for _ in range(3):
        b_ms.append(_per_face_ms(lambda c: base.match(embedder.embed(c)), chips, 1))
        f_ms.append(_per_face_ms(lambda c: frd.match(embedder.embed(c)), chips, 1))
    b, f = statistics.median(b_ms), statistics.median(f_ms)
    emb = embedder.embed(np.stack(chips))
    mb = _per_face_ms(lambda e: base.match(e[None]), list(emb))
    mf = _per_face_ms(lambda e: frd.match(e[None]), list(emb))
    return {"baseline_ms": round(b, 3), "frd_ms": round(f, 3), "ratio": round(f / b, 3),
            "match_baseline_ms": round(mb, 4), "match_frd_ms": round(mf, 4)}


def plot(results: dict[str, dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for label, r in results.items():
        c = np.array(r["curve"])
        ax.plot(c[:, 2], c[:, 1], label=label, ls="--" if "baseline" in label else "-")
    frd = next((r for k, r in results.items() if k.endswith("frd")), None)
    if frd is not None:
        for name, lv in frd["levels"].items():
            ax.plot([lv["fpir"]], [lv["tpir"]], "o", color="black")
            ax.annotate(f"{name} ({lv['threshold']:.2f})", (lv["fpir"], lv["tpir"]), textcoords="offset points",
                        xytext=(6, -12), fontsize=8)
    ax.axvline(0.05, color="grey", ls=":", lw=1)
    ax.axvline(0.01, color="grey", ls=":", lw=1)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlim(0, 1)
    ax.set_ylim(0.5, 1)
    ax.set_xlabel("strangers named as someone (FPIR)")
    ax.set_ylabel("enrolled people named correctly (TPIR)")
    ax.set_title("frd open-set identification, single images")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def lfw_main(args: argparse.Namespace) -> int:
    """``frd eval LFW_DIR``: the shipped defaults on LFW's held-out people, as ``edged.tools.calibrate`` reports
    them."""
    from ..daemon.app import build_pipeline
    from .calibrate import REPORT_SIZES, TEST_FOLDS, embed_people, format_report, held_out_report, verification

    t0 = time.perf_counter()
    lfw = Lfw.load(args.data)
    pairs = lfw.pairs
    pipeline = build_pipeline(still=True)
    cal = pipeline.matcher.calibration
    # the detector the shipped calibration was made with, unless another is asked for (its figures then
    # show what that detector gives at thresholds made with the other)
    made_with = cal.info.get("detector", "hog")
    detector = getattr(args, "detector", None) or made_with
    if detector != pipeline.detector.name:
        pipeline = build_pipeline(still=True, detector=detector)
    held = lfw.people_in(TEST_FOLDS)
    e = embed_people(lfw.photos_in(TEST_FOLDS), pipeline, args.cache, progress=not args.json)
    sizes = tuple(args.sizes) if args.sizes else REPORT_SIZES
    report = held_out_report(cal, e, e.by_person(), sizes)
    ver = {"int8, held-out folds": verification(e, pairs, TEST_FOLDS)}
    if args.json:
        print(json.dumps({"data": str(args.data), "detector": detector, "calibrated_with": made_with,
                          "people": len(held), "photos": len(e.found),
                          "no_face": int((~e.found).sum()), "levels": report, "verification": ver}))
        return 0
    print(f"{args.data}: held-out LFW folds {', '.join(str(f + 1) for f in TEST_FOLDS)}: {len(held)} people, "
          f"{len(e.found)} photos ({int((~e.found).sum())} without a detected face), 5 photos enrolled per person "
          f"({time.perf_counter() - t0:.0f} s); detector {detector}, calibration made with {made_with}")
    print(format_report(cal.levels, report, ver, sizes))
    return 0


def main(args: argparse.Namespace) -> int:
    from ..vision.align import Aligner
    from ..vision.embed import TFLiteEmbedder
    from ..vision.match import load_calibration
    from ..vision.modelfiles import PREDICTOR_FILE, model_dir

    if (args.data / "pairs.txt").is_file():
        return lfw_main(args)
    data = load_dataset(args.data)
    aligner = Aligner(model_dir() / PREDICTOR_FILE)
    t0 = time.perf_counter()
    detector = None
    if getattr(args, "detect", False):
        from ..daemon.app import STILL_MAX_SIDE, STILL_UPSAMPLE
        from ..vision.detect.hog import HogDetector

        detector = HogDetector(upsample=STILL_UPSAMPLE, max_side=STILL_MAX_SIDE)
    dchips: dict | None = {} if getattr(args, "dlib", False) else None
    chips = chips_for(data, aligner, detector, dchips)
    int8 = TFLiteEmbedder()
    cal = load_calibration(int8.sha256, crops=detector is None)  # crops are matched as --aligned matches them
    enrolled = len(chips) - len(chips) // args.folds
    embedders = [("int8", int8)]
    if args.float:
        from .reference import FloatFaceNet

        embedders.append(("float", FloatFaceNet()))
    results: dict[str, dict] = {}
    int8_emb = None
    for label, e in embedders:
        emb = {k: e.embed(v) for k, v in chips.items()}
        int8_emb = int8_emb if int8_emb is not None else emb
        results[f"{label} baseline"] = {"model": e.name, "matcher": "cosine to the mean (plain)",
                                        **summarize(emb, args.shots, args.folds, None,
                                                    {"old default": BASELINE_THRESHOLD})}
        results[f"{label} frd"] = {"model": e.name, "matcher": "centred, cohort-normalised score to the mean",
                                   **summarize(emb, args.shots, args.folds, cal,
                                               {k: cal.threshold(k, enrolled) for k in STRICTNESS_LEVELS})}
    if dchips is not None:
        from .reference import DlibResNet

        d = DlibResNet()
        emb = {k: d.embed(v) for k, v in dchips.items()}
        results["dlib ResNet"] = {"model": d.name, "matcher": "cosine to the mean (plain)",
                                  **summarize(emb, args.shots, args.folds, None, {})}
    some = np.concatenate([v[:4] for v in chips.values()])[:40]
    gallery = {k: v[: args.shots] for k, v in int8_emb.items()}
    cost = cost_per_face(int8, some, gallery, cal)
    if args.plot:
        plot(results, args.plot)
    if args.json:
        print(json.dumps({"data": str(args.data), "identities": len(chips), "shots": args.shots, "folds": args.folds,
                          "cost_per_face": cost, "results": results}))
        return 0
    print(f"{args.data}: {len(chips)} identities, {sum(len(v) for v in chips.values())} faces, {args.shots} shots, "
          f"{args.folds} stranger folds ({time.perf_counter() - t0:.0f} s)")
    print("named correctly when strangers named <= 1 % / <= 5 %: best point of the pooled curve, and held out "
          "(threshold chosen on the other folds: named correctly, strangers named)")
    for label, m in results.items():
        h1, h5 = m["held_out_1pct"], m["held_out_5pct"]
        print(f"{label:15s} top1={m['top1']:.4f}  <=1%: {m['tpir_at_fpir_1pct']:.3f} "
              f"(t={m['threshold_at_fpir_1pct']:.3f}) held out {h1['tpir']:.3f}/{h1['fpir']:.3f}  "
              f"<=5%: {m['tpir_at_fpir_5pct']:.3f} "
              f"(t={m['threshold_at_fpir_5pct']:.3f}) held out {h5['tpir']:.3f}/{h5['fpir']:.3f}")
        for name, lv in m["levels"].items():
            print(f"{'':15s}   {name} (t={lv['threshold']:.2f}): {lv['tpir']:.3f} named correctly, "
                  f"{lv['fpir']:.3f} of strangers named")
    print(f"cost per face (embed + match, this process): baseline {cost['baseline_ms']:.2f} ms, "
          f"frd {cost['frd_ms']:.2f} ms, ratio {cost['ratio']:.2f} (match alone {cost['match_baseline_ms']:.3f} "
          f"vs {cost['match_frd_ms']:.3f} ms)")
    return 0
