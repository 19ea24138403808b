"""Pre-cropped faces (``--aligned``): the stranger promise on crops nobody chose anything with.

Tight 112 px crops (aligned112: 15 celebrities × 40, a sample of Glint360k) are embedded as ``frd enroll/recognize
--aligned`` embeds them and matched at the default strictness with the calibration of crops (the one those commands
use; made from LFW photos cut to crops, ``python -m edged.tools.calibrate LFW --crops``) and, for comparison, with
the calibration of photos (what they used before). 5 crops a person enrolled; Wilson 95 % intervals over probes
(the splits share probes, so the intervals are narrower than the truth):

- aligned112, 200 random splits into 8 enrolled and 7 strangers;
- aligned112's 15 people enrolled, LFW's held-out people (folds 4-5) cut to crops as strangers (with ``lfw``).

The held-out LFW crops' own galleries of 1-50 people are in the calibration (``held_out_figures``), printed last.

    nice .venv/bin/python benchmarks/aligned_crops.py ../shared/data/faces/aligned112 [../shared/data/faces/lfw]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edged.daemon.app import build_pipeline
from edged.tools.calibrate import SHOTS, TEST_FOLDS, default_cache, embed_people
from edged.tools.crops import embed_crops, split_open_set
from edged.tools.datasets import Lfw
from edged.tools.distance import wilson
from edged.vision.match import Matcher, load_calibration


def pct(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{100 * k / n:.2f} % [{100 * lo:.2f}, {100 * hi:.2f}] ({k}/{n})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("crops", type=Path, help="folder of <identity>/<crop> (aligned112)")
    ap.add_argument("lfw", type=Path, nargs="?", help="LFW (pairs.txt beside the people): held-out crops as strangers")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    pipe = build_pipeline(still=True, calibrated=False)
    emb = embed_crops(pipe, args.crops)
    cals = {"crops": load_calibration(pipe.embedder.sha256, crops=True),
            "photos": load_calibration(pipe.embedder.sha256)}
    out: dict = {"splits": {k: split_open_set(emb, c, enrolled=8) for k, c in cals.items()}}
    if args.lfw:
        lfw = Lfw.load(args.lfw)
        # every LFW photo, as the calibration embeds them (its cache), then the held-out people's
        e = embed_people(lfw.people, pipe, default_cache("yunet", crops=True), crops=True)
        held_out = lfw.people_in(TEST_FOLDS)
        strangers = e.emb[e.found & np.isin(e.person, sorted(held_out))]
        out["lfw_strangers"] = {}
        for k, c in cals.items():
            m = Matcher(c, "balanced")
            m.set_gallery({p: v[:SHOTS] for p, v in emb.items()})
            named = sum(r.name == p for p, v in emb.items() for r in m.match(v[SHOTS:]))
            out["lfw_strangers"][k] = {"named": named, "probes": sum(len(v) - SHOTS for v in emb.values()),
                                       "strangers_named": sum(r.name is not None for r in m.match(strangers)),
                                       "stranger_probes": len(strangers)}
    out["held_out_lfw_crops"] = cals["crops"].info.get("held_out_figures", {}).get("balanced", {})
    if args.json:
        print(json.dumps(out))
        return
    for k, r in out["splits"].items():
        print(f"aligned112, {r['splits']} splits of {r['enrolled']} enrolled / {len(emb) - r['enrolled']} strangers, "
              f"calibration of {k}:")
        print(f"  strangers named {pct(r['strangers_named'], r['stranger_probes'])}; enrolled named "
              f"{pct(r['named'], r['probes'])}, wrong name {r['wrong']}")
        w, m = r["worst_stranger"], r["most_missed"]
        print(f"  worst stranger {w[0]} named {w[1]}/{w[2]}; most missed {m[0]} {m[1]}/{m[2]}")
    for k, r in out.get("lfw_strangers", {}).items():
        print(f"aligned112's 15 enrolled, held-out LFW crops as strangers, calibration of {k}: strangers named "
              f"{pct(r['strangers_named'], r['stranger_probes'])}; enrolled named {pct(r['named'], r['probes'])}")
    for n, r in out["held_out_lfw_crops"].items():
        if n.isdigit():
            print(f"held-out LFW crops, galleries of {n}: strangers named {100 * r['strangers']:.2f} %, "
                  f"enrolled named {100 * r['named']:.2f} %, wrong {100 * r['wrong']:.2f} %")


if __name__ == "__main__":
    main()
