"""The package's import graph: no cycles, and no edge from a lower layer to a higher one.

Walks every module of ``src/pansharpen`` with :mod:`ast`, collecting module-level *and*
function-level imports (a lazy import is still a dependency). The layers are those of
docs/architecture.md; keep the two in step.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pansharpen"

#: bottom to top; a module may import its own layer's package and any layer below
LAYERS: list[set[str]] = [
    {"_version", "errors", "runtime"},
    {"_arrays"},
    {"io"},
    {"protocol"},
    {"metrics"},
    {"layers"},
    {"models", "classical"},
    {"viz"},
    {"datasets"},
    {"fusion"},
    {"training"},
    {"evaluation"},
    {"benchmark"},
    {"cli", "__init__"},
    {"__main__"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_package(module: str) -> str:
    """``pansharpen.fusion.scene`` -> ``fusion``; the package root itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> set[str]:
    """Every ``pansharpen...`` module that ``path`` imports, at any nesting level."""
    me = module_name(path)
    is_pkg = path.name == "__init__.py"
    base = me.split(".") if is_pkg else me.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "pansharpen")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "pansharpen":
                continue
            for alias in node.names:  # `from pkg import submodule` names a module
                candidate = f"{target}.{alias.name}"
                sub = PACKAGE.parent / Path(*candidate.split("."))
                found.add(candidate if sub.with_suffix(".py").is_file() or sub.is_dir() else target)
    found.discard(me)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_package_has_a_layer():
    packages = {top_package(m) for m in graph()}
    assert packages <= set(LAYER_OF), f"packages with no layer in docs/architecture.md: {packages - set(LAYER_OF)}"


def test_no_upward_imports():
    upward = []
    for module, targets in graph().items():
        mine = LAYER_OF[top_package(module)]
        for target in targets:
            theirs = LAYER_OF.get(top_package(target))
            if theirs is None:
                continue
            same_package = top_package(target) == top_package(module)
            if theirs > mine or (theirs == mine and not same_package):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))


def strongly_connected(g: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in g:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    g = graph()
    # a package's __init__ that re-exports its submodules is not a cycle with them
    g = {m: {t for t in ts if not (m.startswith(t + ".") and t in g)} for m, ts in g.items()}
    cycles = strongly_connected(g)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    """The walker is itself checked on a hand-made module: a lazy relative import is an edge."""
    src = PACKAGE / "metrics" / "reduced.py"
    edges = imports_of(src)
    assert "pansharpen.protocol.sensors" in edges


@pytest.mark.parametrize("package", sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()))
def test_packages_are_small_and_documented(package):
    folder = PACKAGE / package
    modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= 12, f"{package}/ holds {len(modules)} modules; split it by job"
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc) > 40, f"{package}/__init__.py needs a docstring saying what it owns and may import"


#: the only dependencies a function may import lazily: optional extras (and tomllib, absent on 3.10)
OPTIONAL = {"matplotlib", "distributed", "dask", "xarray", "rioxarray", "tomllib"}
#: ... and the network side, so that the classical path starts without torch (tests/test_startup.py):
#: torch itself and the packages/modules that import it at their top
NETWORK_SIDE = {"torch", "pansharpen.models", "pansharpen.training", "pansharpen.layers",
                "pansharpen.fusion.network_fuser", "pansharpen.benchmark", "pansharpen.datasets.training_sets"}
#: ... and scipy's submodules, each 0.05-0.2 s of a command's start-up (scipy.fft alone 0.19 s on the
#: 2-core machine), so that a classical fusion loads only those its method uses (docs/performance.md,
#: "Start-up without scipy"; tests/test_startup.py)
SLOW_TO_IMPORT = {"scipy"}


def _lazy_target(node, path: Path) -> str:
    """The absolute name a function-level import names (relative ones resolved against ``path``)."""
    if isinstance(node, ast.Import):
        return node.names[0].name
    if not node.level:
        return node.module or ""
    me = module_name(path).split(".")
    base = me if path.name == "__init__.py" else me[:-1]
    anchor = base[: len(base) - (node.level - 1)]
    target = ".".join(anchor + ([node.module] if node.module else []))
    if not node.module:  # `from . import models`
        target = f"{target}.{node.names[0].name}"
    return target


def _network_side(target: str) -> bool:
    return any(target == name or target.startswith(name + ".") for name in NETWORK_SIDE)


def test_function_level_imports_only_for_optional_dependencies_with_a_comment():
    """Everything else is imported at the top of its module, so the import lines are the real
    dependency graph; each lazy import of an optional dependency or of the network side carries a
    comment saying why."""
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in (n for n in ast.walk(func) if isinstance(n, (ast.Import, ast.ImportFrom))):
                target = _lazy_target(node, path)
                root = target.split(".")[0]
                where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                if root not in OPTIONAL | SLOW_TO_IMPORT and not _network_side(target):
                    bad.append(f"{where} imports {target or 'a sibling'} inside a function")
                elif "#" not in lines[node.lineno - 1] and not lines[node.lineno - 2].strip().startswith("#"):
                    bad.append(f"{where}: lazy import of {target} without a comment")
    assert not bad, "\n".join(bad)


def test_the_lazy_import_rule_sees_relative_network_imports(tmp_path):
    assert _network_side(_lazy_target(ast.parse("from ..models import registry").body[0], PACKAGE / "fusion" / "fuse.py"))
    assert _network_side(_lazy_target(ast.parse("from .network_fuser import X").body[0], PACKAGE / "fusion" / "fuse.py"))
    assert not _network_side(_lazy_target(ast.parse("from .scene import X").body[0], PACKAGE / "fusion" / "fuse.py"))
    assert not _network_side(_lazy_target(ast.parse("import torchvision").body[0], PACKAGE / "fusion" / "fuse.py"))
