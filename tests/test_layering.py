"""The package's layering, read from the source with ast: no import cycles, and dependencies
that point one way, cli -> (bench, demo) -> evaluation -> train -> (models, pipeline) -> core.

Cycles are looked for among module-level imports (those that run when a module is imported;
`if TYPE_CHECKING:` blocks and function bodies do not). The layer rules hold for every import,
a function-local one included: an import inside a function is still a dependency.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Subpackage -> the subpackages it must never import.
ABOVE_TRAIN = {"evaluation", "demo", "bench", "cli"}
FORBIDDEN = {
    "core": {"models", "pipeline", "train", *ABOVE_TRAIN},
    "models": {"pipeline", "train", *ABOVE_TRAIN},
    "pipeline": {"models", "train", *ABOVE_TRAIN},
    "train": ABOVE_TRAIN,
    "evaluation": {"demo", "bench", "cli"},
    "demo": {"bench", "cli"},
    "bench": {"demo", "cli"},
}
# Nothing imports cli but cli itself and the package's `python -m visim` entry point.
CLI_IMPORTERS = ("visim.cli", "visim.__main__")


def module_names(root: Path, package: str = "visim") -> dict[str, Path]:
    """Every module of `package` under `root`: dotted name -> file."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(body: list[ast.stmt], module_level: bool):
    """The Import/ImportFrom statements of `body`; with module_level, only those that run
    when the module is imported."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif module_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif module_level and isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.orelse, module_level)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    stmts = [c for c in children if isinstance(c, ast.stmt)]
                    for child in children:  # except handlers and match cases hold bodies
                        if isinstance(child, (ast.ExceptHandler, ast.match_case)):
                            stmts.extend(child.body)
                    yield from _import_nodes(stmts, module_level)


def imports_of(name: str, path: Path, modules: dict[str, Path], module_level: bool) -> set[str]:
    """The modules of `modules` that module `name` imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found = set()
    for node in _import_nodes(tree.body, module_level):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                package = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            # `from package import submodule` imports the submodule; any other name comes
            # from the module itself.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in targets:
            while target and target not in modules:  # import a.b.c where c is a name
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _parse_graph(root: Path, module_level: bool, package: str) -> dict[str, set[str]]:
    modules = module_names(root, package)
    return {name: imports_of(name, path, modules, module_level) for name, path in modules.items()}


def import_graph(root: Path, module_level: bool, package: str = "visim") -> dict[str, set[str]]:
    """Module -> the package's modules it imports, parsed in an interpreter of its own:
    CPython 3.11's ast.parse fails with "AST constructor recursion depth mismatch" when a
    collection inside it runs a finalizer whose error pytest's unraisablehook formats (which
    parses source too), and the suite leaves many such finalizers (numba's) behind."""
    args = [sys.executable, __file__, str(root), str(int(module_level)), package]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return {name: set(targets) for name, targets in json.loads(done.stdout).items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_violations(graph: dict[str, set[str]], package: str = "visim") -> list[str]:
    """'importer -> imported' for every import the layer rules forbid."""

    def layer(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 and parts[0] == package else None

    cli = f"{package}.cli"
    allowed_cli_importers = tuple(name.replace("visim", package, 1) for name in CLI_IMPORTERS)
    violations = []
    for importer, imported in sorted(graph.items()):
        for target in sorted(imported):
            forbidden = FORBIDDEN.get(layer(importer) or "", set())
            into_cli = (target == cli or target.startswith(cli + ".")) and not any(
                importer == allowed or importer.startswith(allowed + ".")
                for allowed in allowed_cli_importers
            )
            if layer(target) in forbidden or into_cli:
                violations.append(f"{importer} -> {target}")
    return violations


def test_the_import_graph_sees_the_package():
    graph = import_graph(ROOT, module_level=False)
    assert len(graph) > 100
    # A few edges known to exist, so that an empty graph cannot pass the tests below.
    assert "visim.pipeline.sources.base" in graph["visim.pipeline.sources.image_folder"]
    assert "visim.pipeline.sources.beton" in graph["visim.pipeline.sources.factory"]
    assert "visim.train.config" in graph["visim.bench.train.case"]


def test_no_import_cycles_among_module_level_imports():
    assert cycles(import_graph(ROOT, module_level=True)) == []


def test_dependencies_point_one_way():
    assert layer_violations(import_graph(ROOT, module_level=False)) == []


@pytest.fixture
def tiny_package(tmp_path):
    """A package shaped like visim's, layered correctly; tests add a violation to it."""
    files = {
        "pkg/__init__.py": "",
        "pkg/__main__.py": "from pkg.cli import app\n",
        "pkg/models/__init__.py": "",
        "pkg/models/net.py": "import numpy\n",
        "pkg/pipeline/__init__.py": "",
        "pkg/pipeline/base.py": "",
        "pkg/pipeline/factory.py": "def open():\n    from pkg.pipeline import reader\n",
        "pkg/pipeline/reader.py": "from pkg.pipeline.base import *\n",
        "pkg/train/__init__.py": "",
        "pkg/train/loop.py": "from pkg.models import net\nfrom pkg.pipeline.factory import open\n",
        "pkg/core/__init__.py": "",
        "pkg/core/files.py": "import os\n",
        "pkg/evaluation/__init__.py": "",
        "pkg/evaluation/knn.py": "from pkg.train.loop import *\nfrom pkg.core import files\n",
        "pkg/demo/__init__.py": "",
        "pkg/demo/run.py": "from pkg.evaluation import knn\nfrom pkg.train import loop\n",
        "pkg/bench/__init__.py": "",
        "pkg/bench/run.py": "from pkg.train.loop import *\n",
        "pkg/cli/__init__.py": "",
        "pkg/cli/app.py": "from pkg.bench import run\nfrom pkg.demo import run as demo\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_checks_pass_a_well_layered_package(tiny_package):
    assert cycles(import_graph(tiny_package, True, "pkg")) == []
    assert layer_violations(import_graph(tiny_package, False, "pkg"), "pkg") == []


def test_a_module_level_cycle_is_found_and_a_function_local_import_breaks_none(tiny_package):
    (tiny_package / "pkg/pipeline/base.py").write_text(
        "from pkg.pipeline import reader\n\ndef later():\n    from pkg.pipeline import factory\n"
    )
    assert cycles(import_graph(tiny_package, True, "pkg")) == [
        ["pkg.pipeline.base", "pkg.pipeline.reader"]
    ]


def test_an_import_under_type_checking_makes_no_cycle(tiny_package):
    (tiny_package / "pkg/pipeline/base.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.pipeline import reader\n"
    )
    assert cycles(import_graph(tiny_package, True, "pkg")) == []


FORBIDDEN_IMPORTS = {
    # what it shows: (module, its new text, the violation reported)
    "models-pipeline": (
        "models/net.py",
        "from pkg.pipeline import base",
        "pkg.models.net -> pkg.pipeline.base",
    ),
    "pipeline-models-in-a-function": (
        "pipeline/base.py",
        "def f():\n    import pkg.models",
        "pkg.pipeline.base -> pkg.models",
    ),
    "pipeline-train": (
        "pipeline/base.py",
        "from pkg.train import loop",
        "pkg.pipeline.base -> pkg.train.loop",
    ),
    "train-bench": (
        "train/loop.py",
        "from pkg.bench.run import x",
        "pkg.train.loop -> pkg.bench.run",
    ),
    "bench-cli": ("bench/run.py", "from pkg import cli", "pkg.bench.run -> pkg.cli"),
    "train-evaluation": (
        "train/loop.py",
        "from pkg.evaluation import knn",
        "pkg.train.loop -> pkg.evaluation.knn",
    ),
    "core-pipeline": (
        "core/files.py",
        "import pkg.pipeline.base",
        "pkg.core.files -> pkg.pipeline.base",
    ),
    "bench-demo": ("bench/run.py", "from pkg.demo.run import x", "pkg.bench.run -> pkg.demo.run"),
    "evaluation-demo": (
        "evaluation/knn.py",
        "from pkg.demo import run",
        "pkg.evaluation.knn -> pkg.demo.run",
    ),
    "models-cli-relative": (
        "models/net.py",
        "from ..cli.app import app",
        "pkg.models.net -> pkg.cli.app",
    ),
}


@pytest.mark.parametrize(
    ("module", "text", "violation"), list(FORBIDDEN_IMPORTS.values()), ids=list(FORBIDDEN_IMPORTS)
)
def test_each_forbidden_import_is_named(tiny_package, module, text, violation):
    (tiny_package / "pkg" / module).write_text(text + "\n")
    assert layer_violations(import_graph(tiny_package, False, "pkg"), "pkg") == [violation]


if __name__ == "__main__":  # import_graph's parser: root, module_level (0/1), package
    graph = _parse_graph(Path(sys.argv[1]), bool(int(sys.argv[2])), sys.argv[3])
    print(json.dumps({name: sorted(targets) for name, targets in graph.items()}))
