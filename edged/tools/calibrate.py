"""Calibrate the matcher on thousands of unseen people, through the path the daemon runs.

``python -m edged.tools.calibrate ../shared/data/faces/lfw`` rebuilds what ships beside the model
(``models/facenet_int8.calibration.json`` and ``facenet_int8.cohort.npy``) and prints the figures
the README quotes. Re-run it whenever detection, alignment or the model changes; a test fails when
the shipped figures no longer match what this measures.

Every face goes through frd's own still-photo path (detection with ``--detector``, default the
configured default; 5-point alignment; int8 FaceNet; the subject of each photo,
edged.vision.pipeline.subject), never through pre-aligned crops. The calibration records the detector that
made it: detection changes which faces reach the matcher, so ``frd eval`` and the tests measure with that
detector. LFW's people are split by its own person-disjoint View-2 folds (``pairs.txt``), and each part has one job:

- fold 1: the **cohort** (generic faces for score normalisation) and the face-space centre;
- folds 2–3: **tuning** — the thresholds of the strictness levels are chosen here, on random
  galleries of 1 to 50 people;
- folds 4–5: **held out** — the figures reported, at the shipped defaults, on people that chose
  nothing.

``--crops`` makes the calibration of pre-cropped faces (``--aligned``; ``facenet_int8.crops.*``) the same way,
from the same photos cut to tight 112×112 crops as ArcFace tools cut them (edged.tools.crops): a crop has no
background around the face, and its strangers score higher than a photo's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import DEFAULT_DETECTOR, DETECTORS, STRICTNESS_LEVELS
from ..core.stack import embedding_stack
from ..vision.embed import l2_normalize
from ..vision.match import (
    CALIBRATION_FILE,
    COHORT_FILE,
    CROP_CALIBRATION_FILE,
    CROP_COHORT_FILE,
    Calibration,
    Level,
    Matcher,
)
from ..vision.modelfiles import model_dir
from .datasets import Lfw

#: Promised rate of stranger faces named, per level (single photos, any gallery size).
TARGETS = {"strict": 0.005, "balanced": 0.01, "lenient": 0.03}
COHORT_FOLDS, TUNE_FOLDS, TEST_FOLDS = (0,), (1, 2), (3, 4)
#: Cohort faces per cohort person (so a few much-photographed people do not dominate it).
COHORT_PER_PERSON = 3
#: Each side's closest cohort faces used by the s-norm.
K = 20
SHOTS = 5
FIT_SIZES = (1, 2, 5, 10, 20, 50)
REPORT_SIZES = (1, 5, 20, 50)
#: Larger households than the held-out folds have people with six photos for: the promise (a stranger
#: rate) is checked there on every held-out person, enrolled from the photos they have (up to SHOTS).
CROWD_SIZES = (100, 200)
#: FaceNet 20180408-102900's published LFW accuracy (float, MTCNN crops, all ten folds), printed beside ours.
PUBLISHED_LFW = 0.9905


@dataclass
class Embedded:
    """Real-path embeddings of a set of photos; ``found`` is False where no face was detected."""

    person: np.ndarray  # (n,) str
    number: np.ndarray  # (n,) int, LFW's photo number
    emb: np.ndarray  # (n, d)
    found: np.ndarray  # (n,) bool

    def by_person(self, people: set[str] | None = None) -> dict[str, np.ndarray]:
        """Row indices of the found faces of each person, in photo order."""
        out: dict[str, list[int]] = defaultdict(list)
        for i in np.nonzero(self.found)[0]:
            if people is None or self.person[i] in people:
                out[str(self.person[i])].append(int(i))
        return {k: np.array(v) for k, v in out.items()}


def path_recipe(pipeline) -> str:
    """What decides a photo's embedding on the still-photo path: detector, chip, model and which face.

    Embedding caches key on it, so HOG's and YuNet's embeddings (or two chips', or two stacks') never mix.
    """
    from ..vision.pipeline import SUBJECT_RULE

    det = pipeline.still_detector or pipeline.detector
    return (f"{det.recipe}; {pipeline.aligner.recipe}; model {pipeline.embedder.sha256}; {SUBJECT_RULE}; "
            f"{' '.join(f'{k} {v}' for k, v in embedding_stack().items())}")


def default_cache(detector: str, crops: bool = False) -> Path:
    """The embeddings cache of ``detector`` (outside the project)."""
    return Path.home() / f".cache/frd/lfw-embeddings-{detector}{'-crops' if crops else ''}.npz"


def embed_people(people: dict[str, list[Path]], pipeline=None, cache: Path | None = None,
                 progress: bool = False, crops: bool = False) -> Embedded:
    """The subject of each photo (:func:`edged.vision.pipeline.subject`) through frd's still-photo path (detect, align,
    int8 embed); with ``crops``, the subject cut to a tight crop (:func:`edged.tools.crops.arcface_crop`) and
    embedded as ``--aligned`` embeds one."""
    from ..vision.images import load_image

    if pipeline is None:
        from ..daemon.app import build_pipeline

        pipeline = build_pipeline(still=True, calibrated=False)
    rows = [(name, p) for name, photos in people.items() for p in photos]
    recipe = path_recipe(pipeline) + ("; cut to ArcFace crops, embedded as --aligned" if crops else "")
    key = hashlib.sha256((recipe + "\n" + "\n".join(f"{n}/{p.name}" for n, p in rows)).encode()).hexdigest()
    if cache and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if str(z["key"]) == key:
            return Embedded(z["person"], z["number"], z["emb"], z["found"])
    dim = pipeline.embedder.manifest.embedding_dim
    emb = np.zeros((len(rows), dim), np.float32)
    found = np.zeros(len(rows), bool)
    t0 = time.perf_counter()
    for i, (_, path) in enumerate(rows):
        face = (_crop_face if crops else _photo_face)(pipeline, load_image(path))
        if face is not None:
            emb[i], found[i] = face.embedding, True
        if progress and i and i % 500 == 0:
            print(f"  {i}/{len(rows)} photos, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    person = np.array([n for n, _ in rows])
    number = np.array([int(([0, *re.findall(r"\d+", p.stem)])[-1]) for _, p in rows])
    out = Embedded(person, number, emb, found)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, key=key, person=person, number=number, emb=emb, found=found)
    return out


def _photo_face(pipeline, rgb: np.ndarray):
    faces = pipeline.faces(rgb, subject_only=True, still=True)
    return faces[0] if faces else None


def _crop_face(pipeline, rgb: np.ndarray):
    """The photo's subject as a tight crop would give it to ``--aligned``."""
    from ..vision.pipeline import subject
    from .crops import arcface_crop

    boxes, _ = pipeline.detect(rgb, still=True)
    if not boxes:
        return None
    crop = arcface_crop(rgb, subject(boxes, rgb.shape[1], rgb.shape[0]))
    return pipeline.subject_face(crop, aligned=True)[0]


# -- building the shipped calibration -------------------------------------------------------------


def build_cohort(e: Embedded, people: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """(centre, centred unit cohort) from at most COHORT_PER_PERSON faces of each cohort person."""
    idx = np.concatenate([v[:COHORT_PER_PERSON] for v in e.by_person(people).values()])
    raw = e.emb[idx]
    center = raw.mean(axis=0).astype(np.float32)
    return center, l2_normalize(raw - center).astype(np.float32)


def _galleries(split: dict[str, np.ndarray], n: int, trials: int, rng: np.random.Generator) -> list[list[str]]:
    """Random galleries of ``n`` people who have a photo left to probe with after enrollment."""
    big = sorted(p for p, v in split.items() if len(v) > SHOTS)
    if n > len(big):
        raise ValueError(f"only {len(big)} people have more than {SHOTS} photos; cannot draw a gallery of {n}")
    return [list(rng.choice(big, n, replace=False)) for _ in range(trials)]


def _trials_for(n: int) -> int:
    return max(8, min(60, 600 // n))


def _best_stranger_scores(cal: Calibration, e: Embedded, split: dict[str, np.ndarray],
                          galleries: list[list[str]]) -> np.ndarray:
    """For each gallery (SHOTS photos a person at most): every other person's photos' best normalised score,
    the one that names the photo when it reaches the level's threshold."""
    out = []
    for gal in galleries:
        m = Matcher(cal, threshold=0.0)
        m.set_gallery({p: e.emb[split[p][:SHOTS]] for p in gal})
        g = set(gal)
        strangers = np.concatenate([v for p, v in split.items() if p not in g])
        out.append(np.array([r.score for r in m.match(e.emb[strangers])]))
    return np.concatenate(out)


def stranger_maxima(cal: Calibration, e: Embedded, split: dict[str, np.ndarray], n: int, trials: int,
                    rng: np.random.Generator) -> np.ndarray:
    """For random galleries of ``n``: each stranger photo's best normalised score (the one that could name it)."""
    return _best_stranger_scores(cal, e, split, _galleries(split, n, trials, rng)).astype(np.float32)


def fit_levels(cal: Calibration, e: Embedded, split: dict[str, np.ndarray], seed: int = 1
               ) -> tuple[dict[str, Level], dict]:
    """Per level: the threshold at its target for each gallery size, then ``a + b·ln n`` through them."""
    rng = np.random.default_rng(seed)
    maxima = {n: stranger_maxima(cal, e, split, n, _trials_for(n), rng) for n in FIT_SIZES}
    levels, points = {}, {}
    x = np.log(np.array(FIT_SIZES, float))
    for name in STRICTNESS_LEVELS:
        t = np.array([np.quantile(maxima[n], 1 - TARGETS[name]) for n in FIT_SIZES])
        b, a = np.polyfit(x, t, 1)
        # never below a measured point: the line is moved up to the worst gallery size
        a += max(0.0, float(np.max(t - (a + b * x))))
        levels[name] = Level(TARGETS[name], round(float(a), 4), round(float(b), 4))
        points[name] = {str(n): round(float(v), 4) for n, v in zip(FIT_SIZES, t, strict=True)}
    return levels, points


# -- measuring -----------------------------------------------------------------------------------


def open_set_at(cal: Calibration | None, e: Embedded, split: dict[str, np.ndarray], n: int, trials: int,
                strictness: str | None, threshold: float | None = None, seed: int = 7) -> dict:
    """Galleries of ``n`` people (SHOTS photos each) through frd's Matcher at a level (or a fixed threshold).

    Returns the rates: enrolled people's other photos named correctly (``named``) and named as
    someone else (``wrong``), and stranger photos named as someone (``strangers``). How many strangers
    each person attracts is :func:`magnets`.
    """
    rng = np.random.default_rng(seed)
    g_total = g_right = g_wrong = s_total = s_named = 0
    for gal in _galleries(split, n, trials, rng):
        m = Matcher(cal, strictness or "strict", threshold)
        m.set_gallery({p: e.emb[split[p][:SHOTS]] for p in gal})
        for p in gal:
            for r in m.match(e.emb[split[p][SHOTS:]]):
                g_total += 1
                g_right += r.name == p
                g_wrong += r.name is not None and r.name != p
        g = set(gal)
        idx = np.concatenate([v for q, v in split.items() if q not in g])
        s_total += len(idx)
        s_named += sum(r.name is not None for r in m.match(e.emb[idx]))
    return {"people": n, "galleries": trials, "genuine_photos": g_total, "stranger_photos": s_total,
            "named": round(g_right / max(g_total, 1), 4), "wrong": round(g_wrong / max(g_total, 1), 4),
            "strangers": round(s_named / max(s_total, 1), 4)}


def crowd_strangers(cal: Calibration, e: Embedded, split: dict[str, np.ndarray], n: int, seed: int = 11
                    ) -> dict[str, dict]:
    """Galleries of ``n`` people drawn from everyone in ``split`` (enrolled from up to SHOTS photos: most LFW
    people have one or two): per level, the share of the other people's photos named as someone.

    The levels were fitted on galleries of at most 50; this checks their ``ln n`` rule beyond that, and
    with people enrolled from fewer photos than the fit used."""
    rng = np.random.default_rng(seed)
    people = sorted(split)
    if n >= len(people):
        raise ValueError(f"only {len(people)} people: cannot draw a gallery of {n} and keep strangers")
    trials = max(6, 1200 // n)
    best = _best_stranger_scores(cal, e, split, [list(rng.choice(people, n, replace=False)) for _ in range(trials)])
    return {level: {"people": n, "galleries": trials, "stranger_photos": len(best),
                    "strangers": round(float(np.mean(best >= cal.threshold(level, n))) if len(best) else 0.0, 4)}
            for level in STRICTNESS_LEVELS}


def magnets(cal: Calibration, e: Embedded, split: dict[str, np.ndarray], strictness: str) -> dict:
    """Each person with more than SHOTS photos enrolled alone: the share of stranger *people* named as them.

    A person counts each stranger once (the share of that stranger's photos named), so one look-alike
    with twenty photos does not make a magnet. Returns the average, the worst and worst / average.
    """
    people = sorted(p for p, v in split.items() if len(v) > SHOTS)
    rates = {}
    for p in people:
        m = Matcher(cal, strictness)
        m.set_gallery({p: e.emb[split[p][:SHOTS]]})
        strangers = [q for q in split if q != p]
        idx = np.concatenate([split[q] for q in strangers])
        weight = np.concatenate([np.full(len(split[q]), 1 / len(split[q])) for q in strangers])
        named = np.array([r.name is not None for r in m.match(e.emb[idx])])
        rates[p] = float(np.sum(weight[named]) / len(strangers))
    avg = float(np.mean(list(rates.values())))
    worst = max(rates, key=rates.get)
    return {"people": len(people), "average": round(avg, 5), "worst": round(rates[worst], 5),
            "worst_over_average": round(rates[worst] / avg, 2) if avg else 0.0, "worst_person": worst}


def verification(e: Embedded, pairs: list, folds: tuple[int, ...] | None = None) -> dict:
    """LFW pair verification, cosine of the embeddings, each fold at the threshold chosen on the others."""
    index = {(str(p), int(k)): i for i, (p, k) in enumerate(zip(e.person, e.number, strict=True))}
    by_fold: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    missing = 0
    for f, a, na, b, nb in pairs:
        if folds is not None and f not in folds:
            continue
        i, j = index.get((a, na)), index.get((b, nb))
        if i is None or j is None:
            missing += 1
            continue
        # a photo without a detected face scores as a non-match (the real path cannot compare it)
        s = float(e.emb[i] @ e.emb[j]) if e.found[i] and e.found[j] else -1.0
        by_fold[f].append((s, a == b))
    grid = np.linspace(-1, 1, 2001)
    accs = []
    for f, items in sorted(by_fold.items()):
        rest = [x for g, v in by_fold.items() if g != f for x in v]
        rs, rl = np.array([s for s, _ in rest]), np.array([same for _, same in rest])
        t = grid[np.argmax([np.mean((rs >= g) == rl) for g in grid])]
        s, lab = np.array([x for x, _ in items]), np.array([y for _, y in items])
        accs.append(float(np.mean((s >= t) == lab)))
    return {"folds": len(accs), "pairs": sum(len(v) for v in by_fold.values()), "missing_pairs": missing,
            "accuracy": round(float(np.mean(accs)), 4), "std": round(float(np.std(accs)), 4)}


def held_out_report(cal: Calibration, e: Embedded, split: dict[str, np.ndarray], sizes=REPORT_SIZES) -> dict:
    """The figures at the shipped defaults on held-out people: per level, each gallery size and the magnets."""
    crowds = {n: crowd_strangers(cal, e, split, n) for n in CROWD_SIZES
              if n < len(split)}  # a subset of LFW may hold fewer people
    out = {}
    for level in STRICTNESS_LEVELS:
        out[level] = {str(n): open_set_at(cal, e, split, n, _trials_for(n), level) for n in sizes}
        out[level]["magnets"] = magnets(cal, e, split, level)
        out[level]["crowds"] = {str(n): c[level] for n, c in crowds.items()}
    return out


def plot(cal_doc: dict, out: Path) -> None:
    """The rule and what it gives: each level's threshold against the gallery size, and held-out rates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    info, levels = cal_doc["info"], cal_doc["levels"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ns = np.geomspace(1, 200, 60)
    for name, lv in levels.items():
        line = a1.plot(ns, lv["a"] + lv["b"] * np.log(ns), label=f"{name} ({lv['target']:.1%}): "
                       f"{lv['a']:.2f} + {lv['b']:.2f}·ln n")[0]
        pts = info["tuning_thresholds"][name]
        a1.plot([int(k) for k in pts], list(pts.values()), "o", color=line.get_color())
        fig_n = [int(k) for k in info["held_out_figures"][name] if k.isdigit()]
        a2.plot(fig_n, [100 * info["held_out_figures"][name][str(n)]["strangers"] for n in fig_n], "o-",
                color=line.get_color(), label=f"{name}: strangers named")
        crowds = info["held_out_figures"][name].get("crowds", {})
        if crowds:
            a2.plot([int(k) for k in crowds], [100 * v["strangers"] for v in crowds.values()], "s--",
                    mfc="none", color=line.get_color(), label=f"{name}: n=100/200, from the photos they have")
        a2.axhline(100 * lv["target"], color=line.get_color(), ls=":", lw=1)
    a1.set_xscale("log")
    a1.set_xlabel("people enrolled (n)")
    a1.set_ylabel("threshold on the normalised score")
    a1.set_title("the rule (dots: thresholds measured on tuning galleries)", fontsize=9)
    a1.legend(fontsize=8)
    a2.set_xscale("log")
    a2.set_xlabel("people enrolled (n)")
    a2.set_ylabel("stranger photos named, % (held-out people)")
    a2.set_title("what it gives on people nobody tuned on (dotted: the promise)", fontsize=9)
    a2.legend(fontsize=8)
    for a in (a1, a2):
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


# -- the command ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from ..daemon.app import build_pipeline

    ap = argparse.ArgumentParser(prog="python -m edged.tools.calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("lfw", type=Path, help="LFW folder: one folder per person and pairs.txt")
    ap.add_argument("--out", type=Path, default=model_dir(), help="where the calibration files go")
    ap.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR,
                    help=f"the face detector the calibration is made with (default {DEFAULT_DETECTOR})")
    ap.add_argument("--cache", type=Path, default=None,
                    help="embeddings cache (default ~/.cache/frd/lfw-embeddings-DETECTOR.npz; rebuilt when the "
                         "detector, chip, model or photos change)")
    ap.add_argument("--plot", type=Path, default=None, help="draw the rule and the held-out rates (PNG)")
    ap.add_argument("--crops", action="store_true",
                    help=f"the calibration of pre-cropped faces ({CROP_CALIBRATION_FILE}): every photo cut to a "
                         "tight ArcFace crop and embedded as --aligned embeds one (needs the yunet detector)")
    args = ap.parse_args(argv)
    if args.crops and args.detector != "yunet":
        ap.error("--crops cuts crops from YuNet's five points: use --detector yunet")
    files = (CROP_CALIBRATION_FILE, CROP_COHORT_FILE) if args.crops else (CALIBRATION_FILE, COHORT_FILE)
    t0 = time.perf_counter()
    lfw = Lfw.load(args.lfw)
    people, pairs = lfw.people, lfw.pairs
    pipeline = build_pipeline(still=True, calibrated=False, detector=args.detector)
    e = embed_people(people, pipeline, args.cache or default_cache(args.detector, args.crops), progress=True,
                     crops=args.crops)
    part = {name: lfw.people_in(fs) for name, fs in (("cohort", COHORT_FOLDS), ("tune", TUNE_FOLDS),
                                                     ("test", TEST_FOLDS))}
    center, cohort = build_cohort(e, part["cohort"])
    sha = pipeline.embedder.sha256
    provisional = Calibration(sha, center, cohort, K, {k: Level(TARGETS[k], 0.0, 0.0) for k in STRICTNESS_LEVELS})
    tune = e.by_person(part["tune"])
    levels, points = fit_levels(provisional, e, tune)
    cal = Calibration(sha, center, cohort, K, levels)
    test = e.by_person(part["test"])
    report = held_out_report(cal, e, test)
    ver = {"int8, all folds": verification(e, pairs), "int8, held-out folds": verification(e, pairs, TEST_FOLDS)}
    cohort_path = args.out / files[1]
    np.save(cohort_path, cohort.astype(np.float16))
    info = {
        "source": f"{args.lfw.name}: LFW View-2 folds 1-5, {len(people)} people, {len(e.found)} photos, "
                  f"{int(e.found.sum())} with a face; frd's still-photo path ({path_recipe(pipeline)}), the "
                  "subject of each photo" + (", cut to a 112x112 ArcFace crop and embedded as --aligned embeds it"
                                             if args.crops else ""),
        "detector": args.detector,
        "cohort": f"fold 1: {len(cohort)} faces of {len(part['cohort'])} people (at most {COHORT_PER_PERSON} each)",
        "tuning": f"folds 2-3: {len(part['tune'])} people, random galleries of {', '.join(map(str, FIT_SIZES))} "
                  f"people with {SHOTS} photos each",
        "held_out": f"folds 4-5: {len(part['test'])} people",
        "tuning_thresholds": points,
        "held_out_figures": report,
        "verification": ver,
        "no_face_photos": int((~e.found).sum()),
    }
    doc = {
        "model_sha256": sha, "k": K, "center": [round(float(v), 7) for v in center],
        "cohort_file": files[1], "cohort_sha256": hashlib.sha256(cohort_path.read_bytes()).hexdigest(),
        "levels": {k: {"target": v.target, "a": v.a, "b": v.b} for k, v in levels.items()},
        "stack": embedding_stack(),
        "info": info,
    }
    (args.out / files[0]).write_text(json.dumps(doc, indent=1) + "\n")
    if args.plot:
        plot(doc, args.plot)
    print(f"calibrated with {args.detector} in {time.perf_counter() - t0:.0f} s; wrote "
          f"{args.out / files[0]} and {cohort_path}")
    print(format_report(levels, report, ver))
    return 0


def format_report(levels: dict[str, Level], report: dict, ver: dict, sizes: tuple[int, ...] = REPORT_SIZES) -> str:
    lines = ["level      promise  threshold(n people)      " + "  ".join(f"n={n:<22}" for n in sizes)
             + "  magnets"]
    for name, lv in levels.items():
        cells = "  ".join(f"{r['named']:.3f} ok {r['strangers']:.4f} str {r['wrong']:.4f} wr"
                          for k, r in report[name].items() if k.isdigit())
        mg = report[name]["magnets"]
        crowds = "  ".join(f"n={k}: {r['strangers']:.4f} str" for k, r in report[name].get("crowds", {}).items())
        lines.append(f"{name:10s} {lv.target:>6.1%}  {lv.a:.3f} + {lv.b:.3f}·ln n   {cells}  "
                     f"{mg['worst_over_average']}x ({mg['worst_person']})  {crowds}")
    lines.append("(ok: enrolled people's other photos named correctly; str: stranger photos named; wr: named as "
                 "someone else; magnets: each person enrolled alone, the worst one's share of stranger people "
                 "named as them over the average; n=100/200: every held-out person, enrolled from the photos "
                 "they have, up to 5)")
    for k, v in ver.items():
        lines.append(f"LFW verification ({k}): {v['accuracy']:.4f} ± {v['std']:.4f} over {v['folds']} folds, "
                     f"{v['pairs']} pairs")
    if ver:
        lines.append(f"(published for the float model: {PUBLISHED_LFW:.4f}, MTCNN crops, all ten LFW folds; the float "
                     "model cut that way verifies 0.9848 on the held-out folds here: models/README.md, \"Which chip\")")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
