"""Golden embeddings: a fixed set of photos through ``frd embed`` (detect, align, int8 embed), stored with the
stack that made them, so that any change of the stack that moves embeddings is caught by the suite.

Each photo is stored twice: with the optimized kernels frd runs (XNNPACK) and with TFLite's portable
reference kernels (``frd embed --reference-kernels``). The two tolerances come from the aarch64 tier, which
embeds the same photos on an emulated Pi (NEON) with the same release:

- the optimized kernels round differently on AVX and NEON: up to 1 - cosine 2.3e-4 there, so they are held
  to 5e-4 (this catches a kernel or model change, not a small one in the chip);
- the reference kernels are the same arithmetic on every CPU: what still differs between two machines is
  the chip (decoding, the detector's float box, the resize), held to REFERENCE_DRIFT below.

OpenCV 5.1 instead of 5.0 resizes chips differently and moves these photos by 1 - cosine 2.1e-4 to 5.1e-4
(the reference kernels see the same): far beyond REFERENCE_DRIFT, so such an upgrade fails here, loudly.

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
#: 1 - cosine allowed between a stored and a fresh embedding of one photo, per kind of kernels.
MAX_DRIFT = {"reference": 2e-5, "embedding": 5e-4}
#: Pixels a face box may move (YuNet runs in float: one architecture's rounding may move it a pixel or two).
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


def embed_args(kind: str, files: list[str], reference: bool) -> list[str]:
    """``frd embed`` arguments (after the program) for one kind of photo."""
    return ["embed", "--json", *(["--aligned"] if kind == "aligned" else []),
            *(["--reference-kernels"] if reference else []), *files]


def read_rows(lines: str, prefix: str) -> dict[str, dict]:
    """{path relative to the data: {"box", "embedding"}} from ``frd embed --json`` output."""
    out = {}
    for line in lines.splitlines():
        row = json.loads(line)
        out[row["source"].removeprefix(prefix)] = {"box": row["box"], "embedding": row["embedding"]}
    return out


def embed(data: Path, python: str = sys.executable) -> dict[str, dict]:
    """{relative path: {"box", "embedding", "reference"}} from ``frd embed --json`` (the daemon's photo path),
    once with each kind of kernels."""
    out: dict[str, dict] = {}
    for reference in (False, True):
        for kind, files in photos(data).items():
            proc = subprocess.run([python, "-m", "edged", *embed_args(kind, [str(data / f) for f in files], reference)],
                                  capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, cwd=ROOT,
                                  timeout=900)
            if proc.returncode != 0:
                raise RuntimeError(f"frd embed failed ({proc.returncode}):\n{proc.stderr}")
            for path, row in read_rows(proc.stdout, f"{data}/").items():
                if reference:
                    out[path]["reference"] = row["embedding"]
                else:
                    out[path] = row
    return out


def cosine_drift(a: list[float], b: list[float]) -> float:
    x, y = np.array(a, np.float64), np.array(b, np.float64)
    return float(1 - x @ y / np.linalg.norm(x) / np.linalg.norm(y))


def drift(fresh: dict[str, dict], golden: dict[str, dict]) -> dict[str, dict]:
    """Per stored photo: 1 - cosine to each stored embedding the fresh row has, and the largest box shift."""
    out = {}
    for path, g in golden.items():
        f = fresh.get(path)
        if f is None:
            out[path] = {"missing": True}
            continue
        row = {k: cosine_drift(f[k], g[k]) for k in MAX_DRIFT if k in f}
        row["box_shift"] = max((abs(x - y) for x, y in zip(f["box"], g["box"], strict=True)), default=0)
        out[path] = row
    return out


def beyond(rows: dict[str, dict]) -> dict[str, dict]:
    """The photos that moved more than allowed (or are missing)."""
    return {p: r for p, r in rows.items() if r.get("missing") or r["box_shift"] > MAX_BOX_SHIFT
            or any(r[k] > limit for k, limit in MAX_DRIFT.items() if k in r)}


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
        rounded = {p: {"box": v["box"], **{k: [round(x, 6) for x in v[k]] for k in MAX_DRIFT}}
                   for p, v in fresh.items()}
        lines = [f" {json.dumps(p)}: {json.dumps(v)}" for p, v in rounded.items()]  # a photo a line
        GOLDEN.write_text(f'{{"stack": {probe.stdout.strip()},\n"photos": {{\n' + ",\n".join(lines) + "\n}}\n")
        print(f"wrote {GOLDEN.relative_to(ROOT)}: {len(fresh)} photos")
        return 0
    golden = json.loads(GOLDEN.read_text())
    rows = drift(fresh, golden["photos"])
    worst = {k: max(r.get(k, 0.0) for r in rows.values()) for k in MAX_DRIFT}
    print(json.dumps({"stored_stack": golden["stack"], "worst_drift": worst, "tolerance": MAX_DRIFT,
                      "beyond": sorted(beyond(rows)), "photos": rows}, indent=1))
    return 1 if beyond(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
