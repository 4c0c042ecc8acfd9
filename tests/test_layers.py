"""The package's floors (docs/architecture.md): no module imports a floor above its own, and
no two modules import each other, directly or round a circle, lazy imports included."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "loomworks"

# Lowest first. Modules of one floor may import each other (without a circle).
FLOORS = {
    "loomworks.core": 0,
    "loomworks.platform": 1,
    "loomworks.db": 2,
    "loomworks.live": 3,
    "loomworks.demo": 3,
    "loomworks.api": 4,
    "loomworks.app": 5,
    "loomworks.workers": 5,
    "loomworks.cli": 5,
    "loomworks.terminal": 5,
    "loomworks.commands": 5,
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["loomworks", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _floor(module: str) -> int | None:
    for prefix, floor in FLOORS.items():
        if module == prefix or module.startswith(prefix + "."):
            return floor
    return None


def _imports(path: Path) -> set[str]:
    """Every loomworks module the file imports, anywhere in it (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports the module; `from module import name`
            # imports the module itself.
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in MODULES
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found |= {name for name in names if name in MODULES and name != "loomworks"}
    return found


GRAPH = {module: _imports(path) for module, path in MODULES.items()}


def test_every_module_has_a_floor() -> None:
    homeless = [m for m in MODULES if m != "loomworks" and _floor(m) is None]
    assert homeless == [], "give these a floor in FLOORS and docs/architecture.md"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_a_floor_above_its_own(module: str) -> None:
    own = _floor(module)
    above = sorted(
        imported for imported in GRAPH[module] if own is not None and (_floor(imported) or 0) > own
    )
    assert above == [], f"{module} (floor {own}) imports {above}"


def test_no_import_circles() -> None:
    try:
        TopologicalSorter(GRAPH).prepare()
    except CycleError as circle:
        pytest.fail(f"import circle: {' -> '.join(circle.args[1])}")


def test_the_rule_would_catch_a_violation() -> None:
    """The checker itself: core importing db is a floor above, and is seen."""
    assert (_floor("loomworks.db.dashboard") or 0) > (_floor("loomworks.core.items") or 0)
    assert "loomworks.core.rows" in GRAPH["loomworks.core.items"]
    assert "loomworks.api.deps.connections" in GRAPH["loomworks.api.deps"]
