"""The simulator's folder lock under a Ctrl-C at its most fragile lines: just after the lock was
taken (before it is recorded) and while it is given back. The old code could leave the lock held
by a descriptor it no longer knew; the next lock in the same process then waited for ever (the
`keys doctor` hang). A real SIGINT is raised at the line by a trace function, in a child process,
and the child must go on to take the lock again."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import signal, sys
    from particle_py.sim import bus

    folder, line_text, after_yield = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    source = open(bus.__file__, encoding="utf-8").read().splitlines()
    start = next(i for i, text in enumerate(source, 1) if text.startswith("def _locked_file("))
    if after_yield:     # giving the lock back, not the clean-up of a failed take
        start = next(i for i, text in enumerate(source, 1) if i > start and text.strip() == "yield")
    target = next(i for i, text in enumerate(source, 1) if i > start and text.strip() == line_text)
    fired = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name != "_locked_file":   # the file lock under the thread lock
            return tracer
        if event == "line" and frame.f_lineno == target and not fired:
            fired.append(1)
            signal.raise_signal(signal.SIGINT)
        return tracer

    sys.settrace(tracer)
    try:
        with bus.locked(folder):
            pass
    except KeyboardInterrupt:
        print("interrupted")
    sys.settrace(None)
    assert fired, "the line was never reached"
    with bus.locked(folder):         # hangs if the first lock leaked
        print("locked again")
""")


@pytest.mark.parametrize("line,after_yield", [("_held[path] = (fd, 1)", "0"), ("del _held[path]", "1"),
                                             ("_release(fd)", "1")])
def test_a_ctrl_c_inside_the_lock_bookkeeping_leaves_no_lock_behind(tmp_path, line, after_yield):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), line, after_yield], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("locked again\n"), proc.stdout + proc.stderr
