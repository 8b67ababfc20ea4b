"""The code's rooms stay as the README's Layout draws them: services free of Flask, no import
circle, and modules and functions a reader can hold in their head."""

import ast
from pathlib import Path

import pytest

CLINIC = Path(__file__).resolve().parents[2] / "clinic"
LONGEST_MODULE = 600
LONGEST_FUNCTION = 80


def modules() -> dict[str, Path]:
    """Every module of the clinic package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(CLINIC.rglob("*.py")):
        parts = path.relative_to(CLINIC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported_at_load(path: Path, name: str, known: set[str]) -> set[str]:
    """The clinic modules ``path`` imports while it loads (top level, not inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            imported.add(base)
            imported.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in imported if module in known and module != name}


def test_no_service_imports_flask():
    offenders = []
    for name, path in modules().items():
        if not name.startswith("clinic.services"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{name}: {n}" for n in names if n.split(".")[0].startswith("flask")]
    assert not offenders, offenders


def test_no_import_circle_among_the_clinic_modules():
    found = modules()
    graph = {name: imported_at_load(path, name, set(found)) for name, path in found.items()}
    # A package's __init__ importing its own submodules is how a package re-exports; the
    # circle that hurts is between rooms: module A needs B while loading and B needs A.
    circles = []
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, circles


@pytest.mark.parametrize(
    "path", sorted(CLINIC.rglob("*.py")), ids=lambda p: str(p.relative_to(CLINIC))
)
def test_modules_and_functions_stay_short(path):
    source = path.read_text()
    assert source.count("\n") <= LONGEST_MODULE, f"{path.name}: over {LONGEST_MODULE} lines"
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION
    ]
    assert not long, long
