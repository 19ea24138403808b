"""Choose the alignment padding by measurement (README: "Alignment padding").

For each candidate padding, chips are cut from the shared face data and
embedded; reported are, on aligned112 (landmarks fitted on the whole crop),
5-shot closed-set top-1 and open-set TPIR at FPIR <= 1 % / 5 % (mean
matching, stranger folds as in ``frd eval``), and on the Hamilton clip the
faces named ``lin_manuel_miranda`` at that padding's 5 % threshold.

    python benchmarks/padding.py [--data ../shared/data/faces] [--embedder int8|float]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2

from edged.align import Aligner
from edged.camera import frames
from edged.detect import Detector
from edged.embed import PREDICTOR_FILE, TFLiteEmbedder, model_dir
from edged.evaluate import chips_for, closed_set_top1, load_dataset, open_set
from edged.images import load_image


def clip_named(data: Path, aligner: Aligner, embedder, threshold: float) -> tuple[int, int]:
    """(faces named lin_manuel_miranda, faces found) on the clip, HOG upsample 0."""
    photo = load_image(data / "video/enroll/lin_manuel_miranda_1.png")
    box = Detector(upsample=1).detect(photo)[0]
    ref = embedder.embed(aligner.chip(photo, box))[0]
    det = Detector(upsample=0)
    named = found = 0
    for f in frames(str(data / "video/short_hamilton_clip.mp4")):
        for b in det.detect(f.rgb):
            found += 1
            named += float(embedder.embed(aligner.chip(f.rgb, b))[0] @ ref) >= threshold
    return named, found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("FRD_TEST_DATA", "../shared/data/faces")))
    ap.add_argument("--embedder", choices=["int8", "float"], default="int8")
    ap.add_argument("--paddings", default="0.2,0.25,0.3,0.35,0.4,0.5")
    ap.add_argument("--no-clip", action="store_true", help="skip the video measurement")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if args.embedder == "float":
        from edged.reference import FloatFaceNet

        embedder = FloatFaceNet()
    else:
        embedder = TFLiteEmbedder()
    aligned = load_dataset(args.data / "aligned112")
    print(f"embedder {embedder.name}")
    for pad in (float(p) for p in args.paddings.split(",")):
        al = Aligner(model_dir() / PREDICTOR_FILE, padding=pad)
        a = {k: embedder.embed(v) for k, v in chips_for(aligned, al).items()}
        osr = open_set(a, 5, 3, "mean")
        (t1, _), (t5, th5) = osr.tpir_at(0.01), osr.tpir_at(0.05)
        line = (f"padding {pad:.2f}: aligned112 top1 {closed_set_top1(a, 5, 'mean'):.4f}  "
                f"TPIR@1% {t1:.3f}  TPIR@5% {t5:.3f} (t={th5:.2f})")
        if not args.no_clip:
            named, found = clip_named(args.data, al, embedder, th5)
            line += f"  clip: {named}/{found} faces named lin_manuel_miranda"
        print(line, flush=True)


if __name__ == "__main__":
    main()
