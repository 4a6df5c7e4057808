"""pyserial and the serial code stay off the start-up path of `particle --help` (what
`python -X importtime` shows); `serial list` does load them (the trace is real)."""
import os
import subprocess
import sys

import pytest

PARTICLE = "from particle_py.cli.particle.main import main; import sys; sys.exit(main(sys.argv[1:]))"


def imported(*args, sim=None):
    env = dict(os.environ)
    env.pop("PARTICLE_PY_SIM", None)
    if sim:
        env["PARTICLE_PY_SIM"] = str(sim)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", PARTICLE, *args], env=env,
                          capture_output=True, text=True, timeout=120)
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    return proc.returncode, names


def serial_modules(names):
    return sorted(n for n in names if n.split(".")[0] == "serial" or n.startswith("particle_py.serial_link")
                  or n.startswith("particle_py.ops.serial_ops"))


@pytest.mark.parametrize("args", [["--help"], ["serial", "--help"], ["serial", "wifi", "--help"],
                                  ["identify", "--help"]])
def test_help_loads_no_serial_code(args):
    code, names = imported(*args)
    assert code == 0 and "particle_py.cli.particle.main" in names
    assert serial_modules(names) == []


def test_serial_list_loads_it(tmp_path):
    from particle_py.sim.state import create_state

    create_state(tmp_path / "sim", ["photon-normal"])
    code, names = imported("serial", "list", sim=tmp_path / "sim")
    assert code == 0 and "particle_py.serial_link.ports" in names
