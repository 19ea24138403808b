"""The package's architecture, as checks: layers, no import cycle, no reaching into private names, a light config,
short functions.

:data:`LAYERS` is the one place the layer order is declared. A module may import (at the top, inside a
function, or for type checking only: every import statement counts) from its own package and from the
packages of lower layers, never from a higher one; the modules' import graph has no cycle. A lower part that
has news for a higher one takes a callback (the people service announces its changes; Home Assistant, fleet
sync and the daemon listen).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "edged"

#: The layers, lowest first: each top-level package (or module) of edged/ imports only from its own layer and the
#: layers before it. The tools (``frd eval``, ``frd bench``, ``frd demo``, calibration) sit above everything the
#: daemon runs, so the runtime never imports them; only the command line does, when one of them is asked for.
LAYERS = (
    "core",  # value types, errors, names, topics, files, paths, logging: standard library and numpy only
    "config",  # the schema, and every default
    "vision",  # frames, detection, alignment, embedding, quality, matching, the per-photo pipeline
    "store",  # the gallery, backups, the ignore list, the faces held in memory
    "service",  # the people service: enroll, delete, rename, capture, reload, restore
    "video",  # a camera's frames to events: tracker, event rules, camera worker, camera processes
    "mqtt",  # bus, command table, payloads, command security
    "integrations",  # Home Assistant discovery, fleet sync
    "daemon",  # the composition root (app), the daemon, systemd notification
    "tools",  # evaluation, calibration, benchmark, demo, float references
    "cli",  # the frd command line
    "__main__",  # python -m edged
)
#: Longest function (``def`` line to last line) anywhere in edged/, the tools included.
MAX_FUNCTION_LINES = 80
HEAVY = ("cv2", "dlib", "tflite_runtime", "ai_edge_litert", "paho")


def _modules() -> dict[str, Path]:
    """``edged.x.y`` → its file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, edged module) of every import statement in a module, resolved to the module it loads."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "edged"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "edged":
                continue
            for a in node.names:  # ``from edged.core import strictjson`` loads edged.core.strictjson
                sub = f"{module}.{a.name}"
                out.append((node.lineno, sub if sub in MODULES else module))
    return out


def _layer(module: str) -> int:
    """The layer of an edged module (-1: the package itself, edged/__init__.py, below every layer)."""
    parts = module.split(".")
    if len(parts) == 1:
        return -1
    assert parts[1] in LAYERS, f"{module}: edged.{parts[1]} is in no layer: give it one in LAYERS"
    return LAYERS.index(parts[1])


def test_every_package_is_in_a_layer_and_every_layer_exists():
    tops = {m.split(".")[1] for m in MODULES if "." in m}
    assert tops == set(LAYERS)


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for name, path in MODULES.items():
        for line, target in _imports(name, path):
            if _layer(target) > _layer(name):
                upward.append(f"{path.relative_to(ROOT)}:{line}: {name} ({LAYERS[_layer(name)]}) imports {target} "
                              f"({LAYERS[_layer(target)]})")
    assert upward == []


def test_the_runtime_never_imports_the_tools():
    """Implied by the order, said outright: below the tools, nothing reaches them."""
    tools = LAYERS.index("tools")
    runtime = [n for n in MODULES if _layer(n) < tools]
    assert {t for n in runtime for _, t in _imports(n, MODULES[n]) if _layer(t) == tools} == set()


def test_the_modules_import_no_cycle():
    graph = {n: sorted({t for _, t in _imports(n, p) if t != n}) for n, p in MODULES.items()}
    cycles, state = [], {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = "open"
        for t in graph.get(n, []):
            if state.get(t) == "open":
                cycles.append(" -> ".join([*stack[stack.index(t):], t]))
            elif t not in state:
                visit(t, [*stack, t])
        state[n] = "done"

    for n in graph:
        if n not in state:
            visit(n, [n])
    assert cycles == []


def test_no_module_imports_another_modules_private_names():
    """A name with a leading underscore is its module's own: a part another one needs is made public (and so
    has a home that says it is shared, like core/files.py's atomic_write), never reached into."""
    reached = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("edged")):
                reached += [f"{path.relative_to(ROOT)}:{node.lineno}: {a.name}" for a in node.names
                            if a.name.startswith("_") and not a.name.startswith("__")]
    assert reached == []


def test_importing_a_package_loads_none_of_its_modules():
    """Package ``__init__`` files hold a docstring (what the package is for), not code: importing one part of
    a package loads nothing else of it."""
    loaded = {n: [t for _, t in _imports(n, p)] for n, p in MODULES.items() if p.name == "__init__.py"}
    assert {n: t for n, t in loaded.items() if t} == {}


def test_the_config_loads_no_opencv():
    """The config is read by every part (its models hold every default) and by ``frd check-config``: importing
    it must not load OpenCV, dlib, the TFLite runtime or the MQTT client."""
    code = ("import json, sys\nimport edged.config\n"
            f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                       cwd=ROOT)
    assert json.loads(r.stdout) == []
    # the check itself can fail: a part the config configures does load OpenCV
    r = subprocess.run([sys.executable, "-c", code.replace("edged.config", "edged.vision.camera")],
                       capture_output=True, text=True, timeout=60, check=True, cwd=ROOT)
    assert "cv2" in json.loads(r.stdout)


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} is {lines} lines")
    assert long == []


def test_code_and_docs_speak_of_behaviour_not_of_the_issues_that_brought_it():
    """History lives in the changelog: code, tests, benchmarks and docs say what is true, never "issue N"."""
    import re

    pattern = re.compile(r"\bissues? ?#?\d+", re.IGNORECASE)
    files = [p for d in ("edged", "tests", "benchmarks", "docs", "config", "scripts", "ansible", "systemd")
             for p in (ROOT / d).rglob("*") if p.is_file() and p.suffix in {".py", ".md", ".yaml", ".yml", ""}
             and p != Path(__file__)]
    files += [ROOT / "README.md", ROOT / "pyproject.toml"]
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in files for n, line in enumerate(
        p.read_text(errors="replace").splitlines(), 1) if pattern.search(line)]
    assert not hits, hits
