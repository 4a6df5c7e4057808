"""Only front ends print or ask: below particle_py/cli nothing calls print or input, touches
sys.stdout/stderr/stdin, or imports typer, click or tqdm. Operations tell a reporter
(particle_py/events.py) and take callables for questions; cli/render.py draws the text."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "particle_py"
FRONT_ENDS = PACKAGE / "cli"
# The few places below cli that write, and why they may:
ALLOWED = {
    # the one place a ParticlePyError becomes text; called by the front ends (cli/runner.py)
    ("errors.py", "sys.stderr"),
    # the simulator's own programs (particle-sim cloud, the serial pty server): their main() prints
    ("sim/cloud.py", "print"), ("sim/cloud.py", "sys.stderr"),
    ("sim/serial_pty.py", "print"),
    # scripts/pin-releases' generator, a development script's main()
    ("firmware/pin_releases.py", "print"),
}
UI_MODULES = ("typer", "click", "tqdm")


def _uses(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "input"):
            yield node.func.id
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sys"
              and node.attr in ("stdout", "stderr", "stdin")):
            yield f"sys.{node.attr}"
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] in UI_MODULES)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UI_MODULES:
            yield node.module


def test_nothing_below_the_front_ends_prints_or_prompts():
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if FRONT_ENDS in path.parents:
            continue
        where = path.relative_to(PACKAGE).as_posix()
        found |= {(where, use) for use in _uses(ast.parse(path.read_text(encoding="utf-8")))}
    assert found - ALLOWED == set()
