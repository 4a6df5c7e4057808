"""docs/walkthrough.md, run as written: its ```sh blocks, in order, in one bash, from an empty
folder; it must end with the simulated Photon breathing cyan and claimed."""
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "walkthrough.md"


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, re.M | re.S)


def test_the_walkthrough_runs_as_written(tmp_path):
    blocks = shell_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    script = "set -eu\n" + "\n".join(blocks)
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin", "LANG": "C.UTF-8",
           "HOME": str(tmp_path / "outer-home"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "PARTICLE_DISABLE_UPDATE": "1"}
    lab = tmp_path / "photon-lab"
    try:
        proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=600)
    finally:
        pid_file = lab / "sim" / "cloud" / "cloud.pid"     # the walk-through stops it; if it failed first
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:]
    # what the page promises, in order
    marks = ["Photon 3a0029000c47343432313031 [2b04:d006] on 1-2, DFU mode",
             "Simulated Particle cloud listening on http://127.0.0.1:",
             "> Successfully completed login!",
             "Wrote system-part1-1.5.2-photon.bin",
             "Flash success!",
             "LED: blinking cyan with 1 orange burst",
             "Your system firmware version is 1.5.2",
             "Note: the device's server key is not Particle's",
             "LED: blinking cyan with 3 orange bursts",
             "Okay!  New keys in place, your device will not restart.",
             "LED: breathing cyan (connected to the cloud)",
             "Successfully claimed device 3a0029000c47343432313031",
             "Unplugged Photon 3a0029000c47343432313031",
             "Stopped the simulated cloud"]
    position = 0
    for mark in marks:
        found = out.find(mark, position)
        assert found >= 0, f"{mark!r} missing after offset {position}:\n{out[position:position + 3000]}"
        position = found
    assert "LED: breathing cyan" in out[out.rindex("Photon 3a0029000c47343432313031 [2b04:c006]"):]
    assert not (tmp_path / "outer-home" / ".particle").exists()        # the lab used its own home
