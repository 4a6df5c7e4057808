"""scripts/compat-replay [--version V] [-k NAME] [-v] [-j N] [--real] FILE...

One line per failing scenario/version, then ``N passed, M failed``; exit status 1 if M > 0
(2 for a usage problem or a file that cannot be read).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from .notation import parse_file
from .runner import REAL_VERSION, Outcome, real_missing, replay


def _jobs(scenarios: list, versions: Optional[list], name_filter: Optional[str], real: bool) -> list:
    jobs = []
    for scenario in scenarios:
        if name_filter and name_filter not in scenario.name:
            continue
        if scenario.error:
            jobs.append((scenario, "?"))  # a malformed scenario counts as one failure
            continue
        wanted = [REAL_VERSION] if real else scenario.versions
        jobs += [(scenario, v) for v in wanted
                 if v in scenario.transcripts and (not versions or v in versions)]
    return jobs


def _run_one(job) -> Outcome:
    scenario, version, real = job
    return replay(scenario, version, real=real)


def main(argv: Optional[list] = None, out=None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="compat-replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE", help="scenario files in the scenarios.md notation")
    parser.add_argument("--version", action="append", dest="versions", metavar="V",
                        help="only this dfu-util version (repeatable)")
    parser.add_argument("-k", dest="name", metavar="NAME", help="only scenarios whose name contains NAME")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the full diff of each failure")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="run N scenarios at a time")
    parser.add_argument("--real", action="store_true",
                        help=f"run the real /usr/bin/dfu-util under scripts/umockdev-run ({REAL_VERSION} blocks)")
    opts = parser.parse_args(argv)

    if opts.real:
        missing = real_missing()
        if missing:
            print(f"compat-replay: --real: {missing}", file=sys.stderr)
            return 2
    jobs = []
    for name in opts.files:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"compat-replay: cannot read {name}: {exc.strerror}", file=sys.stderr)
            return 2
        jobs += [(s, v, opts.real) for s, v in _jobs(parse_file(text, name), opts.versions, opts.name, opts.real)]

    if opts.jobs > 1 and len(jobs) > 1:
        import os
        from concurrent.futures import ProcessPoolExecutor

        from .runner import ROOT
        # workers started with "spawn" (macOS, Windows) must find compat.replay too
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        with ProcessPoolExecutor(max_workers=opts.jobs) as pool:
            outcomes = list(pool.map(_run_one, jobs, chunksize=1))
    else:
        outcomes = [_run_one(job) for job in jobs]

    failed = 0
    for outcome in outcomes:
        if outcome.ok:
            continue
        failed += 1
        print(outcome.line(), file=out)
        if opts.verbose and outcome.details:
            for line in outcome.details:
                print("    " + line, file=out)
    print(f"{len(outcomes) - failed} passed, {failed} failed", file=out)
    return 1 if failed else 0
