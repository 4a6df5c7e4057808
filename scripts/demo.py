"""The seed thread, replayed on a simulated Photon and a simulated cloud.

A Photon blinks cyan with a red burst: its device key is bad and its server key is
not the cloud's. The thread's fixes are run as typed there, each printed with its
output, with the LED before and after: system firmware with dfu-util, `particle keys
doctor` (the device key; the LED then shows the 3 orange bursts of the wrong server key),
then the server key with dfu-util at DCT 2082. It ends breathing cyan and claimable with
`particle device add`. Then the same trouble on a second Photon, found and repaired by
`particle doctor` alone.

Nothing here touches real devices or your ~/.particle: everything lives in a
temporary folder (kept with --keep).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEVICE_ID = "3a0029000c47343432313031"
OWNER, PASSWORD = "owner@example.com", "demo-password"
BIN = Path(sys.executable).parent


def banner(text: str) -> None:
    print(f"\n### {text}", flush=True)


def run(env: dict, *argv: str, expect: "int | None" = 0, cwd: Path) -> str:
    print(f"$ {' '.join(argv)}", flush=True)
    program = shutil.which(argv[0], path=str(BIN)) or argv[0]
    proc = subprocess.run([program, *argv[1:]], env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    output = proc.stdout.decode("utf-8", "replace")
    # a progress bar repaints with \r: show only its last state, as a terminal would
    lines = [line.rsplit("\r", 1)[-1] for line in output.rstrip("\n").split("\n")]
    print("\n".join(lines), flush=True)
    if expect is not None and proc.returncode != expect:
        print(f"!! exit status {proc.returncode}, expected {expect}", flush=True)
        raise SystemExit(1)
    if proc.returncode:
        print(f"(exit status {proc.returncode})", flush=True)
    return output


def led(env: dict, cwd: Path) -> None:
    run(env, "particle-sim", "status", cwd=cwd)


def start_cloud(env: dict, state: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([str(BIN / "particle-sim"), "cloud", "--state", str(state / "cloud"),
                             "--user", f"{OWNER}:{PASSWORD}"], env=env, stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    url = first.strip().rsplit(" ", 1)[-1]
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"the simulated cloud did not start: {first!r}")
    return proc, url


PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))
DOCTOR_DEVICE_ID = "3a0029000c47343432313032"


def official_server_keys() -> "Path | None":
    """particle-cli's published server keys, from the npm package scripts/install-peers fetched."""
    for root in sorted(PEERS.glob("particle-cli-3.*/node_modules/particle-cli/assets/keys"), reverse=True):
        if (root / "rsa.pub.der").is_file():
            return root
    return None


def doctor_path(work: Path) -> "subprocess.Popen | None":
    """The same trouble on a second Photon, repaired by `particle doctor --yes` alone. The
    simulated cloud here stands for Particle's: its server key is the one particle-cli publishes
    (taken from the npm package, placed where particle-py caches downloaded assets)."""
    from particle_py.keys import formats
    from particle_py.ops import keys as key_ops

    state, home, cache = work / "sim-doctor", work / "home-doctor", work / "cache-doctor"
    home.mkdir()
    env = dict(os.environ, PARTICLE_PY_SIM=str(state), HOME=str(home), USERPROFILE=str(home),
               XDG_CACHE_HOME=str(cache), PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    keys = official_server_keys()
    extra = []
    if keys is not None:
        (state / "cloud").mkdir(parents=True)
        for alg, name in (("rsa", "rsa.pub.der"), ("ec", "ec.pub.der")):
            blob = (keys / name).read_bytes()
            (state / "cloud" / f"server_{alg}.pub.der").write_bytes(formats.trim_der(blob))
            path, sha256 = key_ops.DEFAULT_SERVER_KEYS["tcp" if alg == "rsa" else "udp"]
            cached = cache / "particle-py" / "assets" / sha256[:16] / path
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(blob)
    banner("The same trouble on another Photon, unclaimed, repaired by `particle doctor`")
    run(env, "particle-sim", "create", "photon", "--id", DOCTOR_DEVICE_ID, "--key", "corrupt",
        "--server-key", "wrong", cwd=work)
    cloud, url = start_cloud(env, state)
    if keys is None:
        # no copy of Particle's server key here: the simulated cloud is then "your own cloud"
        shutil.copy(state / "cloud" / "server_rsa.pub.der", work / "sim_cloud_public.der")
        extra = ["--server-key", "sim_cloud_public.der"]
        print("(Particle's published server key is not on this machine (scripts/install-peers fetches it): "
              "the simulated cloud acts as your own cloud, named with --server-key)")
    (home / ".particle").mkdir()
    (home / ".particle" / "particle.config.json").write_text(f'{{"apiUrl": "{url}"}}\n')
    run(env, "particle", "login", "--username", OWNER, "--password", PASSWORD, cwd=work)
    led(env, work)
    banner("What is wrong, from what the device holds (writes nothing)")
    run(env, "particle", "doctor", "--dry-run", *extra, cwd=work)
    banner("Repair it")
    run(env, "particle", "doctor", "--yes", *extra, cwd=work)
    status = subprocess.run([str(BIN / "particle-sim"), "status"], env=env, text=True,
                            stdout=subprocess.PIPE).stdout
    print(status.rstrip())
    if "breathing cyan" not in status:
        print("!! the device is not breathing cyan")
        cloud.terminate()
        return None
    print("\nThe second Photon is breathing cyan and claimed: `particle doctor --yes` alone"
          + (" (with --server-key for the simulated cloud)." if extra else "."))
    return cloud


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="particle-py-demo-"))
    state, home = work / "sim", work / "home"
    home.mkdir()
    env = dict(os.environ, PARTICLE_PY_SIM=str(state), HOME=str(home), USERPROFILE=str(home),
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               # where the simulated cloud answers the device's handshake: keys doctor proves its key there
               PARTICLE_PY_CLOUD_HOSTS=f"@{state / 'cloud'}")
    from particle_py.sim import contents
    from particle_py.platforms import by_name
    photon = by_name("photon")
    cloud = doctor_cloud = None
    try:
        banner("A Photon whose keys went bad (simulated: Device OS 0.6.2, corrupt device key, wrong server key)")
        # a Photon of the thread's time: its 2015 bootloader resets at once when dfu-util asks it to leave
        run(env, "particle-sim", "create", "photon", "--id", DEVICE_ID, "--device-os", "0.6.2",
            "--key", "corrupt", "--server-key", "wrong", "--owner", OWNER, "--bootloader", "2015", cwd=work)
        cloud, url = start_cloud(env, state)
        print(f"(simulated Particle cloud at {url}; particle's config points there)")
        (home / ".particle").mkdir()
        (home / ".particle" / "particle.config.json").write_text(f'{{"apiUrl": "{url}"}}\n')
        led(env, work)

        banner("Log in (the simulated cloud's user)")
        run(env, "particle", "login", "--username", OWNER, "--password", PASSWORD, cwd=work)

        banner("Put it in DFU mode: hold MODE, tap RESET, release MODE when it blinks yellow")
        run(env, "particle-sim", "button", "dfu", cwd=work)
        run(env, "dfu-util", "-l", cwd=work)

        banner("Update Device OS, as the thread says (stand-in system parts with valid module headers)")
        parts = contents.device_os(photon, "1.5.2")
        for number, (_address, module) in enumerate(parts, 1):
            (work / f"system-part{number}-1.5.2-photon.bin").write_bytes(module)
        run(env, "dfu-util", "-d", "2b04:d006", "-a", "0", "-s", "0x8020000", "-D",
            "system-part1-1.5.2-photon.bin", cwd=work)
        run(env, "dfu-util", "-d", "2b04:d006", "-a", "0", "-s", "0x8060000:leave", "-D",
            "system-part2-1.5.2-photon.bin", cwd=work, expect=None)
        print("(That error is how a Photon answers :leave: its bootloader resets at once, so dfu-util's "
              "last status request finds no device and dfu-util exits 74. \"File downloaded "
              "successfully\" above it is what counts: the data was written, and particle-cli treats "
              "this the same way. Today's bootloaders answer the leave first, and dfu-util ends without "
              "the error.)")
        led(env, work)

        banner("A new device key, written to the device and sent to the cloud (the thread's first try)")
        # In DFU mode this bootloader shows the serial 00000000010C, not the device id, so no tool can
        # find the Photon again after switching it: the buttons put it in DFU mode, as in 2016.
        run(env, "particle-sim", "button", "dfu", cwd=work)
        run(env, "particle", "keys", "doctor", DEVICE_ID, cwd=work)

        banner("The device restarted by itself: 3 orange bursts, because its server key is still wrong")
        led(env, work)

        banner("Restore the server key: dfu-util -a 1 -s 2082 -D cloud_public.der, then RESET")
        shutil.copy(state / "cloud" / "server_rsa.pub.der", work / "cloud_public.der")
        run(env, "particle-sim", "button", "dfu", cwd=work)
        run(env, "dfu-util", "-d", "2b04:d006", "-a", "1", "-s", "2082", "-D", "cloud_public.der", cwd=work)
        run(env, "particle-sim", "button", "reset", cwd=work)
        led(env, work)

        banner("Claim it")
        run(env, "particle", "device", "add", DEVICE_ID, cwd=work)
        status = subprocess.run([str(BIN / "particle-sim"), "status"], env=env, text=True,
                                stdout=subprocess.PIPE).stdout
        if "breathing cyan" not in status:
            print("!! the device is not breathing cyan")
            return 1
        print("\nThe Photon is breathing cyan: connected to the (simulated) cloud.")

        doctor_cloud = doctor_path(work)
        if doctor_cloud is None:
            return 1
        return 0
    finally:
        for proc in (cloud, doctor_cloud):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
        if args.keep:
            print(f"(kept {work}: export PARTICLE_PY_SIM={state} to go on with its Photon)")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
