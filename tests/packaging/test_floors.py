"""The floors of docs/ARCHITECTURE.md, read from the imports (those inside functions too): no
import runs from a lower floor up to a higher one, no two rooms (packages, or the ground floor's
modules) import each other, and no files import each other in a circle."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))        # tests/helpers as `helpers`

from helpers.imports import module_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "particle_py"

# room -> floor, bottom up. A room is a package below particle_py or one of its top-level modules.
FLOORS = {
    # 1. ground floor: stdlib only, data and contracts everyone reads
    "particle_py": 1, "particle_py.platforms": 1, "particle_py.module_layout": 1,
    "particle_py.cnum": 1, "particle_py.errors": 1, "particle_py.events": 1,
    "particle_py.control_codes": 1, "particle_py.release_table": 1, "particle_py.private_files": 1,
    "particle_py.platform_constants": 1,
    # 2. transports, and the simulated devices behind the same seams
    "particle_py.usb": 2, "particle_py.sim": 2,
    # 3. protocols: DFU/DfuSe, Particle's control requests, the listening-mode serial protocol
    "particle_py.dfu": 3, "particle_py.control": 3, "particle_py.serial_link": 3,
    # 4. libraries: keys, Device OS modules and releases, the cloud API, official assets
    "particle_py.keys": 4, "particle_py.firmware": 4, "particle_py.cloud": 4, "particle_py.assets": 4,
    "particle_py.handshake": 4,
    # 5. operations on devices
    "particle_py.ops": 5,
    # 6. the doctor, built from the operations
    "particle_py.doctor": 6,
    # 7. front ends
    "particle_py.cli": 7, "particle_py.__main__": 7,
}


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


MODULES = {module_name(p, ROOT): p for p in sources()}


def as_module(name: str) -> str | None:
    """The package module an import names (``a.b.Name`` -> ``a.b``); None outside the package."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def room(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def imports_of(name: str, path: Path) -> set[str]:
    """The package modules a file imports. ``from pkg import mod`` names ``pkg.mod`` alone (the
    package's __init__ runs first, but that is Python's order, not a use of the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {as_module(a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else as_module(base))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            found |= {as_module(a.value) for a in node.args
                      if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return {m for m in found if m and m != name}


def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path) for name, path in MODULES.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_room_has_a_floor():
    assert sorted({room(m) for m in MODULES} - set(FLOORS)) == []


def test_no_import_runs_up_a_floor():
    upward = sorted(f"{name} (floor {FLOORS[room(name)]}) -> {dep} (floor {FLOORS[room(dep)]})"
                    for name, deps in graph().items() for dep in deps
                    if FLOORS[room(dep)] > FLOORS[room(name)])
    assert upward == []


def test_no_two_rooms_import_each_other():
    rooms: dict[str, set[str]] = {}
    for name, deps in graph().items():
        rooms.setdefault(room(name), set()).update(room(d) for d in deps if room(d) != room(name))
    assert circles(rooms) == []


def test_no_files_import_each_other_in_a_circle():
    assert circles(graph()) == []


def test_the_circle_finder_finds_a_circle():
    # the checks above pass on an empty answer: hold the finder to one it must see
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
