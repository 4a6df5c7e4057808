"""Differential check against the real dfu-util 0.11 (Debian package), when installed.

Only words that cannot make the real binary act on a device are used (no -e/-D/-U/-R/-s/-w),
so past option parsing it can only list, print its version, or ask for a mode.
"""
import random
import shutil
import subprocess

import pytest

from particle_py.cli.dfu_util.options import OptionError, check_mode, parse_args

REAL = "/usr/bin/dfu-util"
WORDS = ["-l", "-V", "-v", "-h", "-a", "-d", "-t", "-c", "-i", "-E", "-Z", "-n", "-p", "-S", "--", "-", "--d",
         "--dev", "--alt=", "--cfg=1", "--conf", "--list=1", "--up", "-lva0", "-y", "0x10", "010", "08", " 1", "",
         "foo", "1-2", "2b04:d006", ",:", "*", "-1", "4294967296", "99999999999999999999", "--de", "--c", "--i",
         "--a", "--t=5", "--transfer", "--reset=1", "--h", "--=", "---", "--version", "--ver", "-:", "-?", "-W",
         "--devnum", "--det=1", "-E5", "-t0x", "-c08", "-Z1k", "--intf=", "-n7x", "-tx", "--wait", "--dfuse"]
_rng = random.Random(20261124)
CASES = [[w] for w in WORDS] + [[_rng.choice(WORDS) for _ in range(_rng.randint(2, 4))] for _ in range(120)]
CASES = [c for c in CASES if c[-1] != "--wait" or c.count("--wait") != 1 or len(c) == 1]


def _real_is_0_11() -> bool:
    if not shutil.which(REAL):
        return False
    out = subprocess.run([REAL, "-V"], capture_output=True, stdin=subprocess.DEVNULL).stdout
    return out.startswith(b"dfu-util 0.11\n")


pytestmark = [pytest.mark.peers,
              pytest.mark.skipif(not _real_is_0_11(), reason="needs the real dfu-util 0.11 at /usr/bin/dfu-util")]


@pytest.mark.parametrize("args", CASES, ids=lambda a: repr(a)[:60])
def test_same_verdict_as_the_real_dfu_util(args, tmp_path):
    real = subprocess.run(["dfu-util", *args], executable=REAL, capture_output=True, cwd=tmp_path,
                          stdin=subprocess.DEVNULL)
    real_err = real.stderr.decode("latin-1")
    try:
        opts = parse_args(["dfu-util", *args], "0.11", "dfu-util")
    except OptionError as err:
        assert (real.stdout, real_err, real.returncode) == (b"", err.stderr_text("0.11"), err.exit_code)
        return
    assert real.stdout.startswith(b"dfu-util 0.11\n")  # got past option parsing: banner first
    try:
        check_mode(opts, "0.11")
    except OptionError as err:
        assert (real_err, real.returncode) == (err.stderr_text("0.11"), err.exit_code)
