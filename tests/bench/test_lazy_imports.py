"""Help and version never load the heavy modules (what `python -X importtime` shows)."""
import os
import subprocess
import sys

import pytest

HEAVY = ("cryptography", "usb", "tqdm")
PARTICLE = "from particle_py.cli.particle.main import main; import sys; sys.exit(main(sys.argv[1:]))"
DFU_UTIL = "from particle_py.cli.dfu_util.main import main; import sys; sys.exit(main(['dfu-util'] + sys.argv[1:]))"


def imported(program: str, *args: str) -> tuple[int, set]:
    env = dict(os.environ)
    env.pop("PARTICLE_PY_SIM", None)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", program, *args], env=env,
                          capture_output=True, text=True, timeout=120)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return proc.returncode, names


def heavy(names: set) -> list:
    return sorted(n for n in names if n.split(".")[0] in HEAVY)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["keys", "--help"], ["flash", "--help"],
                                  ["keys", "doctor", "--help"], ["usb", "--help"]])
def test_particle_help_and_version_load_no_heavy_module(args):
    code, names = imported(PARTICLE, *args)
    assert code == 0
    assert "particle_py.cli.particle.main" in names       # the trace is real
    assert heavy(names) == []


@pytest.mark.parametrize("args", [["-V"], ["-h"], ["--version"]])
def test_dfu_util_version_and_help_load_no_heavy_module(args):
    code, names = imported(DFU_UTIL, *args)
    assert code == 0
    assert "particle_py.cli.dfu_util.main" in names
    assert heavy(names) == []


def test_dfu_util_version_does_not_load_the_file_and_probe_code():
    _, names = imported(DFU_UTIL, "-V")
    assert not names & {"particle_py.dfu.dfuse_file", "particle_py.dfu.probe", "particle_py.dfu.suffix"}


def test_dfu_util_list_loads_no_crypto_or_progress_bar():
    code, names = imported(DFU_UTIL, "-l")
    assert code == 0
    assert not [n for n in names if n.split(".")[0] in ("cryptography", "tqdm")]
