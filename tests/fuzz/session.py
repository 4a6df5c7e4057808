"""One fuzz session for scripts/fuzz: the property tests with fresh seeds, then the mutation
fuzzer, for a given time; prints the inputs tried, the crashes and the hangs.

The property tests (every test file with @given) run one file at a time with a new
hypothesis seed each round, until their share of the time is used; a file still running at
the end of its share is stopped (its examples are not counted). The mutation fuzzer
(tests/fuzz/mutate.py) takes the rest. Exit status 1 on any failing property, crash or hang.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import count_examples  # noqa: E402
import mutate  # noqa: E402


def properties(seconds: float, rng: random.Random) -> dict:
    # the small parser files first, so a short session still runs some; later rounds as they come
    files = sorted(count_examples.property_files(), key=lambda f: ((ROOT / f).stat().st_size, f))
    done = {"examples": 0, "files run": 0, "rounds": 0, "failing": 0, "failed files": []}
    deadline = time.monotonic() + seconds
    i = 0
    while files and time.monotonic() < deadline - 1:
        path = files[i % len(files)]
        i += 1
        seed = rng.randrange(1 << 30)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               "-p", "fuzz_profile", "--hypothesis-show-statistics", f"--hypothesis-seed={seed}", path]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HERE),
                                                                          os.environ.get("PYTHONPATH")])))
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env,
                                  timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            break
        examples, _tests, failing = count_examples.parse(proc.stdout)
        done["examples"] += sum(examples.values())
        done["files run"] += 1
        done["failing"] += failing
        if proc.returncode not in (0, 5):
            summary = [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAILED", "ERROR", "E "))][:3]
            done["failed files"].append(f"{path} (seed {seed}): " + " | ".join(summary)[:300])
        if i % len(files) == 0:
            done["rounds"] += 1
            rng.shuffle(files)
    return done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--property-share", type=float, default=0.3,
                        help="the share of the time for the property tests (default 0.3)")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 60 * (args.minutes if args.minutes is not None else 1)
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    start = time.monotonic()
    print(f"fuzz: {seconds:.0f} s, seed {seed}", flush=True)
    props = properties(seconds * args.property_share, rng)
    print(f"property tests: {props['files run']} file runs ({props['rounds']} full rounds of "
          f"{len(count_examples.property_files())} files), {props['examples']} examples, "
          f"{props['failing']} failing", flush=True)
    for name in props["failed files"]:
        print(f"  FAILED {name}")
    left = max(0.0, seconds - (time.monotonic() - start))
    stats = mutate.fuzz(left, rng.randrange(1 << 30))
    print(f"mutation fuzzer: {left:.0f} s")
    print(f"  {'target':16} {'inputs':>9} {'crashes':>8} {'hangs':>6}")
    for name, st in stats.items():
        print(f"  {name:16} {st.inputs:9} {st.crashes:8} {st.hangs:6}")
    inputs = sum(s.inputs for s in stats.values())
    crashes = sum(s.crashes for s in stats.values())
    hangs = sum(s.hangs for s in stats.values())
    for st in stats.values():
        for path in st.found:
            print(f"  saved {path.relative_to(ROOT)}: {path.with_suffix('.txt').read_text().strip()}")
    print(f"fuzz total: {props['examples'] + inputs} inputs tried ({props['examples']} property examples, "
          f"{inputs} mutated inputs), {crashes} crashes, {hangs} hangs, {props['failing']} failing properties "
          f"in {time.monotonic() - start:.0f} s")
    return 1 if crashes or hangs or props["failing"] or props["failed files"] else 0


if __name__ == "__main__":
    sys.exit(main())
