"""docs/doctor.md's LED table, the doctor's problem table and the simulator's boot model say the
same thing; and the diagnosis never looks into the simulator."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from particle_py.doctor import findings, repair
from particle_py.sim import boot

ROOT = Path(__file__).resolve().parents[2]
DOCTOR_SOURCES = sorted((ROOT / "particle_py" / "doctor").glob("*.py")) + [
    ROOT / "particle_py" / "cli" / "particle" / "doctor.py"]


def doc_rows() -> list[dict]:
    text = (ROOT / "docs" / "doctor.md").read_text()
    table = text.split("<!-- led-table -->", 1)[1].split("<!-- /led-table -->", 1)[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        led, state, codes, repairs = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append({"led": led, "state": state.strip("`"), "codes": set(re.findall(r"`(\w+)`", codes)),
                     "repairs": set(re.findall(r"`(\w+)`:", repairs))})
    return rows


def test_the_doctors_led_words_are_the_boot_models():
    for state, words in findings.LED.items():
        assert boot.LED[state][0] == words, state


def test_every_led_a_device_can_show_without_connecting_has_a_row():
    not_held = {"no_cloud"}          # no cloud answering is not something the device holds
    rows = {row["state"] for row in doc_rows() if row["state"]}
    assert rows == set(boot.LED) - not_held - {"connected"}


def test_each_row_lists_exactly_the_findings_and_repairs_of_the_doctors_table():
    rows = doc_rows()
    for row in rows:
        if row["state"]:
            assert row["led"] == boot.LED[row["state"]][0]
        want = {code for code, problem in findings.PROBLEMS.items() if (problem.led or "") == row["state"]}
        assert row["codes"] == want, row["led"]
        assert row["repairs"] == {findings.PROBLEMS[c].repair for c in want}, row["led"]
    assert set().union(*(row["codes"] for row in rows)) == set(findings.PROBLEMS)
    assert {findings.PROBLEMS[c].repair for c in findings.PROBLEMS} <= set(repair.BY_NAME)


def test_boot_order_covers_every_problem_the_led_shows():
    shown = {code for code, problem in findings.PROBLEMS.items() if problem.led not in (None, "listening")}
    assert set(findings.BOOT_ORDER) == shown


def test_the_doctor_code_imports_nothing_from_the_simulator():
    for path in DOCTOR_SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
                names = [a.value for a in node.args if isinstance(a, ast.Constant)]
            assert not any(n.startswith("particle_py.sim") for n in names), (path.name, names)
    # and importing it (without a simulator in the environment) loads none of it either
    code = ("import sys, particle_py.doctor.run, particle_py.doctor.diagnose, particle_py.doctor.repair, "
            "particle_py.cli.particle.doctor; "
            "print(sorted(m for m in sys.modules if m.startswith('particle_py.sim')))")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PARTICLE_PY_SIM"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
