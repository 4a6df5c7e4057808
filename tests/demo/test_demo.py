"""The README's first command keeps working: the seed thread ends breathing cyan, and so does
the doctor path after it."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_the_seed_thread_to_breathing_cyan():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, out
    # before: the bad key; after the server key and keys doctor: connected and claimable
    assert "LED: blinking cyan with 1 red burst" in out
    assert "$ dfu-util -d 2b04:d006 -a 1 -s 2082 -D cloud_public.der" in out
    # the server key is still wrong then: the new key is written, and said not to be proven
    assert "The new key was not proven: wrong server key" in out
    first_try = out[out.index("$ particle keys doctor"):out.index("### The device restarted by itself")]
    assert "New keys in place, your device should restart; not proven" in first_try and "Okay!" not in first_try
    # the get_status error after :leave is explained as the Photon's answer to a leave
    assert "(That error is how a Photon answers :leave:" in out
    # after the doctor, the wrong server key shows as 3 orange bursts until dfu-util restores it
    doctor = out.index("$ particle keys doctor")
    bursts = out.index("LED: blinking cyan with 3 orange bursts", doctor)
    assert out.index("$ dfu-util -d 2b04:d006 -a 1 -s 2082 -D cloud_public.der") > bursts
    assert out.index("LED: breathing cyan (connected to the cloud)") > bursts
    # nothing tells the user to use a folder the demo then deletes
    assert "export PARTICLE_PY_SIM" not in out
    assert "Successfully claimed device 3a0029000c47343432313031" in out
    assert "The Photon is breathing cyan: connected to the (simulated) cloud." in out
    # then the doctor path: the same trouble on a second Photon, diagnosed, then repaired alone
    doctor = out[out.index("### The same trouble on another Photon"):]
    assert "$ particle doctor --dry-run" in doctor
    assert ("  FAIL blinking cyan with 1 red burst: the device key in the DCT at 34 is not a key (612 bytes that "
            "do not parse as DER); Device OS cannot use it") in doctor
    assert "Repairs needed: Restore the server key, Make a new device key, Claim the device" in doctor
    assert "Successfully claimed device 3a0029000c47343432313032" in doctor
    assert "The device should now show: breathing cyan." in doctor
    assert doctor.rstrip().splitlines()[-1].startswith("The second Photon is breathing cyan and claimed: "
                                                       "`particle doctor --yes` alone")
