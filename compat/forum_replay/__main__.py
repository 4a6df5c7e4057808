"""``python -m forum_replay [--subprocess] [--verbose] [FILE|DIR ...]`` (scripts/forum-replay).

One line per scenario, then ``N passed, M failed, K pending``; exit status 1 if any failed.
"""
from __future__ import annotations

import argparse
import sys

from . import runner
from .scenario import ScenarioError, load


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="forum-replay", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="scenario files or folders (default: compat/forum/scenarios)")
    parser.add_argument("--subprocess", action="store_true", help="run each command as its own process")
    parser.add_argument("-v", "--verbose", action="store_true", help="show why each failure failed in full")
    parser.add_argument("--keep", metavar="DIR", help="build each scenario's folders in DIR/<name> and keep them")
    args = parser.parse_args(argv)
    counts = {"passed": 0, "failed": 0, "pending": 0}
    for path in runner.discover(args.files):
        try:
            scenario = load(path)
        except (OSError, ScenarioError) as exc:
            result = runner.Result(path.stem, "failed", str(exc))
        else:
            result = runner.run(scenario, use_subprocess=args.subprocess, keep=args.keep)
        counts[result.status] += 1
        print(result.line(), flush=True)
        if args.verbose and result.status == "failed":
            print("\n".join("        " + ln for ln in result.detail.splitlines()[1:]), flush=True)
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['pending']} pending")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
