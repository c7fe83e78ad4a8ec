"""The import rule (rooms.py) checked on every module's imports, read from the source as text
(ast), function-level imports included: each module imports only its own room and lower ones,
no two modules import each other round a cycle, and labkit's top level stays a few files."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rooms import LAYERS, ROOMS, TOP, layout_lines, may_import, room_of

CHECKOUT = Path(__file__).resolve().parents[2]
PACKAGE = CHECKOUT / "labkit"


def module_name(path: Path) -> str:
    if path == CHECKOUT / "app.py":
        return "app"
    parts = path.relative_to(CHECKOUT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {module_name(p): p for p in [*sorted(PACKAGE.rglob("*.py")), CHECKOUT / "app.py"]}


def imported_modules(module: str) -> set[str]:
    """The labkit modules `module` imports, each by its own name: `from labkit.data import
    DATASETS` is labkit.data, `from labkit.analysis import tables` is labkit.analysis.tables."""
    path = SOURCES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in SOURCES else base for a in node.names]
        else:
            continue
        for name in names:
            while name not in SOURCES and "." in name:
                name = name.rpartition(".")[0]
            if name in SOURCES and name != module and name.split(".")[0] == "labkit":
                found.add(name)
    return found


GRAPH = {module: imported_modules(module) for module in SOURCES}


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_imports_only_its_room_and_lower_ones(module):
    upward = sorted(m for m in GRAPH[module] if not may_import(module, m))
    assert not upward, (f"{module} (room {room_of(module)!r}) imports {upward}: a room imports only itself "
                        f"and the rooms below it in tests/architecture/rooms.py")


def test_every_room_is_a_place_in_the_package_and_every_place_a_room():
    places = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
              if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name not in ("__init__.py", "__main__.py")}
    assert places == set(ROOMS), f"folders or modules without a room: {places - set(ROOMS)}; " \
                                 f"rooms without a place: {set(ROOMS) - places}"


def test_no_import_cycles():
    """Tarjan's strongly connected components over every import: each must be one module."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other round a cycle: {cycles}"


def test_the_top_level_is_a_few_files():
    files = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(files) <= 8, files


def test_the_rule_catches_an_upward_import():
    """The checker itself: a building block importing the run core, or the app the command
    line, is refused; an import down the layers is allowed."""
    assert not may_import("labkit.methods.er", "labkit.experiment.runner")
    assert not may_import("labkit.app.panels", "labkit.cli.main")
    assert not may_import("labkit.cli.main", "labkit.app.background")
    assert not may_import("labkit.data.datasets", "labkit.models.backbones")
    assert may_import("labkit.analysis.tables", "labkit.experiment.result")
    assert may_import("labkit", "labkit.experiment.runner") and not may_import("labkit", "labkit.views.plots")
    assert set(TOP) == {"labkit", "labkit.__main__"} and len(LAYERS) > 5


def test_readme_layout_is_drawn_from_the_rule():
    readme = (CHECKOUT / "README.md").read_text()
    missing = [line for line in layout_lines() if line not in readme]
    assert not missing, "README's Layout differs from tests/architecture/rooms.py; expected lines:\n" + \
        "\n".join(layout_lines())


def test_the_public_names_come_from_rooms_the_package_may_import():
    """labkit/__init__ imports its public names by string on first use (so ast sees no import):
    each home must still be one the rule lets the package itself import."""
    import labkit

    assert all(may_import("labkit", home) for home in labkit._HOMES.values()), labkit._HOMES
