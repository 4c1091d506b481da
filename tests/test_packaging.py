"""The package's declared dependencies cover what its code imports."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys

import pytest

from tests.conftest import ROOT

# Imported by optional adapters but installed by hand, as the README says (MemoryOS's own pins break this stack).
MANUAL_INSTALLS = {"memoryos"}


def _dist(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group()).lower()


def _top_level_imports(directory: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((ROOT / directory).rglob("*.py")):
        local = {p.stem for p in path.parent.glob("*.py")}  # a script's sibling modules (benchmarks/)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local and top not in ("hins", "tests"):
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_import_is_a_declared_dependency():
    """hins/ and benchmarks/ import only distributions pyproject.toml declares (a dependency or an extra), tests/ also
    the dev extra's: a package that arrives only through another (scipy through scikit-learn, PyYAML through
    transformers) breaks the day that one stops needing it."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    runtime = {_dist(r) for r in project["dependencies"]} | {
        _dist(r) for name, reqs in extras.items() if name != "dev" for r in reqs}
    dev = runtime | {_dist(r) for r in extras["dev"]}
    owners = md.packages_distributions()
    undeclared = []
    for directory, declared in (("hins", runtime), ("benchmarks", runtime), ("tests", dev)):
        for module, where in _top_level_imports(directory).items():
            if module in MANUAL_INSTALLS:
                continue
            # An optional package not installed here (mteb) is taken to be the distribution of its own name.
            dists = {_dist(d) for d in owners.get(module, [module])}
            if not dists & declared:
                undeclared.append(f"{module} ({where}; from {sorted(dists)})")
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
