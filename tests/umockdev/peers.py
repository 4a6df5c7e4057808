#!/usr/bin/env python3
"""Real particle-cli releases as clients of the simulated devices, over the real libusb.

A *session* is one simulated device (a state folder, made by scripts/umockdev-run) and a list
of ``particle`` commands run on it in turn, each under scripts/umockdev-run, with HOME set to
a scratch folder and, where it matters, a given dfu-util first on PATH (particle-cli 1.x
runs ``dfu-util``; 3.x talks DFU itself through the ``usb`` npm module).

    .venv/bin/python tests/umockdev/peers.py --record     # (re)write compat/recorded/*.txt
    .venv/bin/python tests/umockdev/peers.py [SESSION]    # run and show what differs

Recordings are made with the real peers only: particle-cli from npm with the real
/usr/bin/dfu-util. The tests (test_peers.py) replay the same sessions, with the real
dfu-util and with ours, and compare against the recording; and they check what the
device holds afterwards.

Inputs are deterministic, so transcripts are too: the RSA keys are built from seeded primes
(test keys made for this purpose, never a real device's), the firmware is the simulator's
seeded stand-in user module.
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
UMOCKDEV_RUN = ROOT / "scripts" / "umockdev-run"
RECORDED = ROOT / "compat" / "recorded"
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))
REAL_DFU_UTIL = "/usr/bin/dfu-util"
CLOUD_USER = "peer@example.com"


# --- deterministic inputs --------------------------------------------------------------


def _is_probable_prime(n: int, rng: random.Random) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(12):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if candidate % 65537 != 1 and _is_probable_prime(candidate, rng):
            return candidate


def seeded_rsa_key(bits: int, seed: str):
    """A reproducible RSA key for transcripts (a test key, not a device's secret)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    rng = random.Random(f"particle-py peer key {seed}")
    while True:
        p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
        if p != q and (p * q).bit_length() == bits:
            break
    e = 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                    rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key()


@functools.lru_cache(maxsize=None)
def _inputs() -> tuple:
    from cryptography.hazmat.primitives import serialization as ser

    from particle_py.platforms import by_name
    from particle_py.sim.contents import user_app

    device_key = seeded_rsa_key(1024, "device")
    server_key = seeded_rsa_key(2048, "server")
    return tuple({
        "key.der": device_key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.TraditionalOpenSSL,
                                            ser.NoEncryption()),
        "server.der": server_key.public_key().public_bytes(ser.Encoding.DER,
                                                           ser.PublicFormat.SubjectPublicKeyInfo),
        "app.bin": user_app(by_name("photon")),
        # the stand-in user module of each platform the current-bootloader sessions flash
        **{f"app-{name}.bin": user_app(by_name(name)) for name in ("photon", "electron", "argon", "p2")},
    }.items())


def inputs() -> dict[str, bytes]:
    return dict(_inputs())


# --- sessions ----------------------------------------------------------------------------


@dataclass
class Session:
    name: str                      # recording file name (without .txt)
    cli: str                       # particle-cli version
    profile: str                   # umockdev-run --profile
    steps: list[list[str]]         # particle argv, in turn
    cloud_device: Optional[str] = None   # a simulated cloud that knows this device (3.x usb list names)
    note: str = ""


SESSIONS = [
    Session("particle-cli-1.16.0-photon", "1.16.0", "photon",
            [["keys", "save", "before.der"], ["keys", "load", "key.der"], ["keys", "save", "saved.der"],
             ["keys", "server", "server.der", "127.0.0.1"], ["keys", "address"], ["flash", "--usb", "app.bin"]],
            note="the dfu-util transcript Photon (leave answered with dfuMANIFEST)"),
    Session("particle-cli-1.16.0-photon-real-leave", "1.16.0", "photon:real=1:leave=reset",
            [["flash", "--usb", "app.bin"]],
            note="a Photon bootloader of 2015-2016 that resets at once on leave: dfu-util 0.11 reports "
                 "'Error during download get_status' and the old CLI fails the flash"),
    Session("particle-cli-3.43.1-photon", "3.43.1", "photon:real=1",
            [["usb", "list"], ["keys", "save", "before.der"], ["keys", "load", "key.der"],
             ["keys", "save", "saved.der"], ["keys", "server", "server.der", "--host", "127.0.0.1", "--port", "5683"],
             ["keys", "address"], ["flash", "--usb", "app.bin"], ["usb", "list"]],
            cloud_device="sim_photon"),
    Session("particle-cli-3.43.1-photon-normal", "3.43.1", "photon-normal",
            [["usb", "list"], ["flash", "--usb", "app.bin"], ["usb", "dfu"], ["usb", "list"],
             ["flash", "--usb", "app.bin"]],
            cloud_device="sim_photon",
            note="a Photon running Device OS; `usb dfu` sends the DFU_MODE control request and the device "
                 "re-enumerates as 2b04:d006"),
]
BY_NAME = {s.name: s for s in SESSIONS}


def particle_cli(version: str) -> Path:
    return PEERS / f"particle-cli-{version}" / "node_modules" / ".bin" / "particle"


def our_dfu_util() -> Path:
    return Path(sys.executable).parent / "dfu-util"


# --- normalisation -----------------------------------------------------------------------

# particle-cli 1.x loads every command module and its serial command cannot load the native
# serialport module on Node 20: that warning (a stack trace with paths) opens every run.
_SERIAL_NOISE = re.compile(r"Error loading command .*?SerialCommand\.js.*?(?=^\S(?!\s*at )|\Z)",
                           re.S | re.M)
_OPENSSL_THREAD = re.compile(r"^[0-9A-F]{8,16}:error:", re.M)
# Node stack frames of a failed child process: which event reports the exit first is a race
_NODE_FRAME = re.compile(r"^ +at .*\n", re.M)
_ECHOED_ERROR = re.compile(r"^Error [a-z ]+\.\.\.(?=dfu-util: )", re.M)


def collapse_repaints(text: str) -> str:
    """compat-replay's wall-clock rule (docs/compat-replay.md): a dfu-util progress repaint with
    the same fill as the repaint before it exists only because time(NULL) moved on; drop it."""
    from compat.replay import notation

    return "".join(t for _, t in notation.collapse_repaints([(notation.STDOUT, text)]))


def normalise(text: str, work: Path) -> str:
    text = collapse_repaints(_SERIAL_NOISE.sub("", text))
    text = _OPENSSL_THREAD.sub("<thread>:error:", text)
    text = _NODE_FRAME.sub("", text)
    # 1.x joins the stderr chunks it read from dfu-util with newlines; where warnx's "dfu-util: "
    # prefix and its message arrive in separate reads is a race
    text = text.replace("dfu-util: \n", "dfu-util: ")
    # ... and so does where the empty lines in an echoed dfu-util error ("Error writing
    # firmware...<stderr>") fall
    match = _ECHOED_ERROR.search(text)
    if match:
        text = text[:match.end()] + re.sub(r"\n{2,}", "\n", text[match.end():])
    text = text.replace(str(work), "<work>")
    text = text.replace(str(PEERS), "<peers>")
    return text


def _escape(text: str) -> str:
    return text.replace("\r", "\\r").replace("\t", "\\t")


@dataclass
class StepResult:
    argv: list[str]
    status: int
    stdout: str
    stderr: str

    def render(self) -> str:
        out = [f"## particle {' '.join(self.argv)}", f"[exit status {self.status}]"]
        for label, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            out.append(f"--- {label}")
            out += [_escape(line) for line in text.split("\n")] if text else []
        return "\n".join(out) + "\n"


@dataclass
class SessionResult:
    session: Session
    steps: list[StepResult]
    work: Path
    state: Path
    dfu_util: str
    files: dict = field(default_factory=dict)

    def transcript(self) -> str:
        return "".join(s.render() + "\n" for s in self.steps)


def run_session(session: Session, dfu_util: str = REAL_DFU_UTIL, particle: Optional[Path] = None,
                base: Optional[Path] = None) -> SessionResult:
    """Run every step; the folders are kept under ``base`` (caller cleans up)."""
    base = Path(base or tempfile.mkdtemp(prefix=f"peer-{session.name}-"))
    work, state, home, bindir = base / "work", base / "state", base / "home", base / "bin"
    for folder in (work, home, bindir):
        folder.mkdir(parents=True, exist_ok=True)
    for name, data in inputs().items():
        (work / name).write_bytes(data)
    (bindir / "dfu-util").symlink_to(dfu_util)
    subprocess.run([str(UMOCKDEV_RUN), "--state", str(state), "--profile", session.profile, "--", "true"],
                   check=True, capture_output=True)
    env = dict(os.environ, HOME=str(home), PATH=f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    env.pop("PARTICLE_PY_SIM", None)
    cloud = None
    if session.cloud_device:
        from particle_py.sim import cloud as cloud_mod
        from particle_py.sim.bus import SimBus

        cloud = cloud_mod.start(base / "cloud.sqlite")
        cloud.db.add_user(CLOUD_USER, "not-a-real-password")
        token = cloud.db.issue_token(CLOUD_USER)
        device_id = SimBus.load(state).devices()[0].serial.lower()
        cloud.db.add_device(device_id, CLOUD_USER, name=session.cloud_device)
        (home / ".particle").mkdir()
        config = home / ".particle" / "particle.config.json"
        config.write_text(json.dumps({"apiUrl": cloud.url, "access_token": token, "username": CLOUD_USER}))
        os.chmod(config, 0o600)
    command = [str(particle or particle_cli(session.cli))]
    results = []
    try:
        for argv in session.steps:
            proc = subprocess.run([str(UMOCKDEV_RUN), "--state", str(state), "--", *command, *argv], cwd=work,
                                  env=env, capture_output=True, timeout=180)
            text = [normalise(p.decode("utf-8", "replace"), work) for p in (proc.stdout, proc.stderr)]
            if cloud is not None:
                text = [t.replace(cloud.url, "<cloud>") for t in text]
            results.append(StepResult(argv, proc.returncode, *text))
    finally:
        if cloud is not None:
            cloud.stop()
    return SessionResult(session, results, work, state, dfu_util)


def _dfu_util_version(path: str) -> str:
    proc = subprocess.run([path, "-V"], capture_output=True, text=True)
    return proc.stdout.split("\n", 1)[0].strip()


def header(session: Session) -> str:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"# particle-cli {session.cli} from the npm registry (scripts/install-peers), node {node}",
        f"# device: particle-py simulator, profile '{session.profile}', shown to the real libusb by "
        f"scripts/umockdev-run" + (f" ({session.note})" if session.note else ""),
    ]
    if session.cli.startswith("1."):
        lines.append(f"# dfu-util first on PATH: {REAL_DFU_UTIL} ({_dfu_util_version(REAL_DFU_UTIL)}, Debian)")
    else:
        lines.append("# dfu-util: not used (this CLI talks DFU through the `usb` npm module, libusb 1.0.30)")
    if session.cloud_device:
        lines.append("# cloud: particle_py.sim.cloud on loopback (shown as <cloud>), the device named "
                     f"'{session.cloud_device}'")
    lines += [
        "# inputs: key.der = seeded RSA-1024 test key (PKCS#1 DER), server.der = seeded RSA-2048 public key",
        "#         (SPKI DER), app.bin = the simulator's stand-in Photon user module (tests/umockdev/peers.py)",
        "# normalised: folders shown as <work>/<peers>, OpenSSL thread ids as <thread>, the 1.x",
        "#             'Error loading command ... SerialCommand.js' start-up warning and Node stack frames",
        "#             ('    at ...') removed, a line break right after a 'dfu-util: ' prefix removed"
        " (1.x",
        "#             joins dfu-util's stderr reads with newlines: a race; for the same reason empty lines",
        "#             in an echoed 'Error ...dfu-util: ...' text are dropped), dfu-util",
        "#             progress repaints with an unchanged fill dropped (compat-replay's rule); \\r and \\t escaped",
        f"# recorded {dt.date.today().isoformat()} by tests/umockdev/peers.py --record; one '## particle ...' "
        "block per command, run in turn on the same device",
        "",
    ]
    return "\n".join(lines) + "\n"


def recorded_transcript(session: Session) -> Optional[str]:
    path = RECORDED / f"{session.name}.txt"
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    return "\n".join(line for line in text.split("\n") if not line.startswith("# ")).lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sessions", nargs="*", help="session names (default: all)")
    parser.add_argument("--record", action="store_true", help="write compat/recorded/<session>.txt")
    parser.add_argument("--ours", action="store_true", help="our dfu-util first on PATH instead of the real one")
    opts = parser.parse_args(argv)
    chosen = [BY_NAME[n] for n in opts.sessions] if opts.sessions else SESSIONS
    status = 0
    for session in chosen:
        with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
            result = run_session(session, str(our_dfu_util()) if opts.ours else REAL_DFU_UTIL, base=Path(tmp))
            if opts.record:
                RECORDED.mkdir(parents=True, exist_ok=True)
                (RECORDED / f"{session.name}.txt").write_text(header(session) + result.transcript(),
                                                              encoding="utf-8")
                print(f"recorded compat/recorded/{session.name}.txt")
                continue
            want = recorded_transcript(session)
            got = result.transcript().lstrip("\n")
            if want == got:
                print(f"same as recorded: {session.name}")
            else:
                status = 1
                import difflib
                print(f"DIFFERENT from recorded: {session.name}")
                print("\n".join(difflib.unified_diff((want or "").split("\n"), got.split("\n"), "recorded", "now",
                                                     lineterm="")))
    return status


if __name__ == "__main__":
    sys.exit(main())
