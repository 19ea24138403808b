"""Golden embeddings: a fixed set of photos through ``frd embed`` (detect, align, int8 embed), stored with the
stack that made them, so that any change of the stack that moves embeddings is caught by the suite.

The tolerance comes from the aarch64 tier: the same release on an emulated Pi (NEON) and here (AVX) gives
embeddings within a cosine of 0.9999 end to end (XNNPACK's int8 kernels round differently; boxes within a
pixel or two). OpenCV 5.1 instead of 5.0 moves these photos' embeddings by 1 - cosine 2.1e-4 to 4.6e-4
(chips are resized differently): at least twice the tolerance, so such an upgrade fails here, loudly.

    python -m tests.golden_embeddings --write    # after a deliberate change (scripts/upgrade-stack says when)
    python -m tests.golden_embeddings            # print the drift of this stack from the stored values
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "embeddings.json"
#: 1 - cosine allowed between a stored and a fresh embedding of one photo (AVX vs NEON stays below 1e-4).
MAX_DRIFT = 1e-4
#: Pixels a face box may move (YuNet runs in float: one architecture's rounding moves it a pixel or two).
MAX_BOX_SHIFT = 2
#: What decides an embedding besides the model file: these distributions' versions are stored with it.
STACK = ("opencv-python-headless", "ai-edge-litert", "dlib-bin", "numpy")


def data_dir() -> Path:
    return Path(os.environ.get("FRD_TEST_DATA", ROOT.parent / "shared" / "data" / "faces")).resolve()


def photos(data: Path) -> dict[str, list[str]]:
    """{"photos": whole photos, "aligned": tight crops (``--aligned``)}, as paths relative to ``data``."""
    people = sorted(p for p in (data / "people").iterdir() if p.is_dir())
    whole = [str(sorted(p.iterdir())[0].relative_to(data)) for p in people]
    whole += ["scenes/obama_and_biden.jpg", "sizes/obama_1080p.jpg"]
    crops = sorted(p for p in (data / "aligned112").iterdir() if p.is_dir())[:2]
    aligned = [str(sorted(p.iterdir())[0].relative_to(data)) for p in crops]
    return {"photos": whole, "aligned": aligned}


def stack() -> dict[str, str]:
    from importlib.metadata import version

    return {dist: version(dist) for dist in STACK}


def embed(data: Path, python: str = sys.executable) -> dict[str, dict]:
    """{relative path: {"box", "embedding"}} from ``frd embed --json`` (the daemon's photo path)."""
    out: dict[str, dict] = {}
    for kind, files in photos(data).items():
        args = [python, "-m", "edged", "embed", "--json", *(["--aligned"] if kind == "aligned" else []),
                *(str(data / f) for f in files)]
        proc = subprocess.run(args, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                              cwd=ROOT, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"frd embed failed ({proc.returncode}):\n{proc.stderr}")
        for line in proc.stdout.splitlines():
            row = json.loads(line)
            out[str(Path(row["source"]).relative_to(data))] = {"box": row["box"], "embedding": row["embedding"]}
    return out


def drift(fresh: dict[str, dict], golden: dict[str, dict]) -> dict[str, dict]:
    """Per photo: 1 - cosine to the stored embedding and the largest box shift."""
    out = {}
    for path, g in golden.items():
        f = fresh.get(path)
        if f is None:
            out[path] = {"missing": True}
            continue
        a, b = np.array(f["embedding"], np.float64), np.array(g["embedding"], np.float64)
        shift = max((abs(x - y) for x, y in zip(f["box"] or [], g["box"] or [], strict=False)), default=0)
        out[path] = {"drift": float(1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b)), "box_shift": shift}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="store this stack's embeddings as the golden ones")
    ap.add_argument("--python", default=sys.executable, help="the interpreter whose frd and stack to measure")
    args = ap.parse_args(argv)
    data = data_dir()
    fresh = embed(data, args.python)
    if args.write:
        code = "import json, tests.golden_embeddings as g; print(json.dumps(g.stack()))"  # that interpreter's stack
        probe = subprocess.run([args.python, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        rounded = {p: {"box": v["box"], "embedding": [round(x, 6) for x in v["embedding"]]} for p, v in fresh.items()}
        lines = [f" {json.dumps(p)}: {json.dumps(v)}" for p, v in rounded.items()]  # a photo a line
        GOLDEN.write_text(f'{{"stack": {probe.stdout.strip()},\n"photos": {{\n' + ",\n".join(lines) + "\n}}\n")
        print(f"wrote {GOLDEN.relative_to(ROOT)}: {len(fresh)} photos")
        return 0
    golden = json.loads(GOLDEN.read_text())
    rows = drift(fresh, golden["photos"])
    worst = max((r.get("drift", 1.0) for r in rows.values()), default=0.0)
    print(json.dumps({"stored_stack": golden["stack"], "worst_drift": worst, "tolerance": MAX_DRIFT,
                      "photos": rows}, indent=1))
    return 0 if worst <= MAX_DRIFT and all(r.get("box_shift", 99) <= MAX_BOX_SHIFT for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
