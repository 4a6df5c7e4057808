"""Count the examples hypothesis runs over every property test in the suite.

Finds the test files that use @given, runs them with --hypothesis-show-statistics and adds up
the "N passing, M failing, and K invalid test cases" lines of every phase. Prints one line per
test folder and the total; exits non-zero if any property failed.

Usage: python tests/fuzz/count_examples.py [-j JOBS]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATS = re.compile(r"^\s*- (\d+) passing, (\d+) failing, and (\d+) invalid test cases", re.M)
TEST_NAME = re.compile(r"^(tests/[^:\s]+)::(\S+):$", re.M)


def property_files() -> list[str]:
    found = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if "umockdev" in path.parts:
            continue
        if "@given" in path.read_text(encoding="utf-8", errors="replace"):
            found.append(str(path.relative_to(ROOT)))
    return found


def parse(output: str) -> tuple[Counter, Counter, int]:
    """(examples per folder, property tests per folder, failing examples) from pytest's output."""
    examples, tests, failing = Counter(), Counter(), 0
    marks = [(m.start(), m.group(1)) for m in TEST_NAME.finditer(output)]
    for m in STATS.finditer(output):
        owner = [name for pos, name in marks if pos < m.start()]
        folder = str(Path(owner[-1]).parent) if owner else "?"
        examples[folder] += int(m.group(1)) + int(m.group(2))
        failing += int(m.group(2))
    for _pos, name in marks:
        tests[str(Path(name).parent)] += 1
    return examples, tests, failing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="count_examples")
    parser.add_argument("-j", "--jobs", default=os.environ.get("PYTEST_WORKERS", "2"))
    args = parser.parse_args(argv)
    files = property_files()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
           "-n", str(args.jobs), *files]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    examples, tests, failing = parse(proc.stdout)
    for folder in sorted(tests):
        print(f"{folder:32} {tests[folder]:3} properties {examples[folder]:7} examples")
    print(f"fuzz: {sum(tests.values())} properties in {len(files)} files, {sum(examples.values())} examples "
          f"run, {failing} failing")
    if proc.returncode != 0:
        print(proc.stdout[-3000:])
        print(proc.stderr[-2000:], file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
