"""scripts/bench: start-up, host throughput and modelled device time, ours against the originals.

Everything is measured in one run on one machine and printed as Markdown tables (docs/bench.md
explains each figure). Wall times are best-of-N with the commands interleaved, so a busy machine
slows every column alike; the figures that matter are the ratios. Device time is the
simulator's timing model (particle_py/sim/flash.py TIMINGS, USB packet cost), read from the
state folder, so it is the same on every machine.

The real peers (dfu-util, particle-cli 3.43.1, umockdev) come from scripts/install-peers.
A missing peer is skipped with a note; under CI=true it is also a row of the table that says
so, and the exit status is 0 only when the run itself worked.

Not imported by the commands: stdlib at the top, the rest inside functions.
"""
from __future__ import annotations

import argparse
import json
import os
import platform as platform_mod
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from bench_common import device_time_us, table     # tools/bench_common.py, beside this file

ROOT = Path(__file__).resolve().parents[1]
UMOCKDEV_RUN = ROOT / "scripts" / "umockdev-run"
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))
REAL_DFU_UTIL = "/usr/bin/dfu-util"
PEER_CLI_VERSION = "3.43.1"
CLOUD_USER = "bench@example.com"
PHOTON = "photon:real=1"       # the Particle bootloader model (the plain profile is the dfu-util transcript one)
PHOTON_DFU = "2b04:d006"
SYSTEM_PART_1 = 0x08020000
PHOTON_USER = 0x080A0000
SECTOR_128K = 0x20000
MiB = 1024 * 1024


# --- inputs ----------------------------------------------------------------------------------


def module(platform: str, function: str, size: int, *, seed: int, index: int = 1, start=None) -> bytes:
    from particle_py.firmware.module import ModuleFunction
    from particle_py.sim.contents import build_module

    from particle_py.platforms import by_name
    from particle_py.sim.contents import suffix_extensions_for, default_start

    fn = ModuleFunction.SYSTEM_PART if function == "system" else ModuleFunction.USER_PART
    deps = () if function == "system" else ((ModuleFunction.SYSTEM_PART, 1, 1512),)
    # as the toolchain builds them: an rtl872x module names its start in its suffix
    start = default_start(by_name(platform), fn, index, size) if start is None else start
    return build_module(platform, function=fn, index=index, size=size, start=start, deps=deps, seed=seed,
                        version=1512 if function == "system" else 6,
                        suffix_extensions=suffix_extensions_for(by_name(platform), start))


def change_last_sector(image: bytes, sector_size: int, image_address: int) -> bytes:
    """The module with a few bytes changed in its last sector (an app rebuilt with one small
    fix near its end), re-sealed: SHA-256 and CRC-32 in the suffix match again, so exactly one
    sector differs. Suffix layout as particle_py.sim.contents.build_module writes it."""
    import hashlib
    import struct
    import zlib

    out = bytearray(image)
    end = image_address + len(out)
    last_sector_start = max((end - 1) // sector_size * sector_size - image_address, 0)
    sha_at = len(out) - 4 - 2 - 32
    at = max(last_sector_start, sha_at - 6 - 64)          # before the product fields of the suffix
    out[at:at + 16] = bytes(b ^ 0x5A for b in out[at:at + 16])
    out[sha_at:sha_at + 32] = hashlib.sha256(bytes(out[:sha_at])).digest()
    out[-4:] = struct.pack(">I", zlib.crc32(bytes(out[:-4])) & 0xFFFFFFFF)
    return bytes(out)


# The Photon of the flash rows runs this Device OS (stand-in modules): it answers module info,
# so a module written over it is proven by Device OS's own check after the reset.
BENCH_DEVICE_OS = "1.5.2"
# The P2 of the size rows: the stand-in Device OS every simulated P2 starts with (5.0.0).
P2_BENCH_DEVICE_OS = "5.0.0"


def make_state(state_dir: Path, profile: str, *, fill: Optional[list] = None,
               device_os: Optional[str] = None) -> None:
    """A fresh simulated device; ``fill`` = [(alt, address, bytes)] already in its flash.
    ``device_os``: made as `particle-sim create <platform> --device-os V --dfu` makes it
    (keys, Device OS, app), in DFU mode; ``profile`` is then the platform name."""
    from particle_py.sim.bus import SimBus
    from particle_py.sim.state import create_state

    if state_dir.exists():
        shutil.rmtree(state_dir)
    if device_os:
        from particle_py.sim import devices

        devices.create(state_dir, [profile.split(":")[0]], devices.Recipe(mode="dfu", device_os=device_os))
    else:
        create_state(state_dir, [profile])
    if fill:
        bus = SimBus.load(state_dir)
        dev = bus.devices()[0]
        for alt, address, data in fill:
            dev.memory(alt).poke(address, data)
        bus.save()


def peek(state_dir: Path, alt: int, address: int, length: int) -> bytes:
    from particle_py.sim.bus import SimBus

    return SimBus.load(state_dir).devices()[0].memory(alt).peek(address, length)


# --- the tools -------------------------------------------------------------------------------


@dataclass
class Tools:
    venv_bin: Path
    real_dfu_util: Optional[str]
    peer_cli: Optional[str]
    umockdev: bool
    notes: list = field(default_factory=list)

    @classmethod
    def find(cls) -> "Tools":
        notes = []
        real = REAL_DFU_UTIL if os.access(REAL_DFU_UTIL, os.X_OK) else shutil.which("dfu-util", path="/usr/bin:/usr/local/bin")
        if not real:
            notes.append("real dfu-util not installed (scripts/install-peers --apt)")
        cli = PEERS / f"particle-cli-{PEER_CLI_VERSION}" / "node_modules" / ".bin" / "particle"
        peer_cli = str(cli) if cli.exists() else None
        if not peer_cli:
            notes.append(f"particle-cli {PEER_CLI_VERSION} not installed (scripts/install-peers --npm)")
        umockdev = bool(shutil.which("umockdev-wrapper")) and subprocess.run(
            ["/usr/bin/python3", "-c", "import gi; gi.require_version('UMockdev', '1.0')"],
            capture_output=True).returncode == 0 if os.path.exists("/usr/bin/python3") else False
        if not umockdev:
            notes.append("umockdev (with python3-gi) not installed: the real peers cannot reach the simulator "
                         "(scripts/install-peers --apt); our tools run on the in-process simulator")
        return cls(Path(sys.executable).parent, real, peer_cli, umockdev, notes)

    def ours(self, name: str) -> str:
        return str(self.venv_bin / name)


def _run(argv, *, env=None, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


# --- 1. start-up -----------------------------------------------------------------------------


def _timed(argv, env) -> tuple[float, Optional[float], int]:
    """(wall seconds, CPU seconds of the child or None where wait4 is missing, exit status)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if hasattr(os, "wait4"):
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu: Optional[float] = usage.ru_utime + usage.ru_stime
    else:
        proc.wait()
        cpu = None
    return time.perf_counter() - t0, cpu, proc.returncode


SHORT_GROUPS = ("keys", "serial", "update")      # --short: a few groups, to stay quick


def command_groups() -> list[str]:
    """Every top-level command and sub-app of our `particle`, as the typer app registers them."""
    from particle_py.cli.particle.main import build_app

    app = build_app()
    names = [g.name for g in app.registered_groups if g.name]
    names += [c.name for c in app.registered_commands if c.name and c.name not in names]
    return names


def _help_commands(tools: Tools, short: bool) -> list[tuple[str, list]]:
    groups = [g for g in command_groups() if not short or g in SHORT_GROUPS]
    return [("`particle --help`", [tools.ours("particle"), "--help"])] + [
        (f"`particle {g} --help`", [tools.ours("particle"), g, "--help"]) for g in groups]


def startup_rows(tools: Tools, reps: int, ci: bool = False, short: bool = False,
                 goals: Optional[list] = None) -> list[list]:
    """Rows of the start-up table; ``goals`` (if given) gets the goal table's rows: every
    `particle <group> --help` as wall x particle-cli and CPU x `python -c pass`."""
    env = dict(os.environ)
    env.pop("PARTICLE_PY_SIM", None)              # dfu-util -l with no device: the real, empty bus
    commands = [
        ("`python -c pass` (baseline)", [sys.executable, "-c", "pass"]),
        *_help_commands(tools, short),
        ("`dfu-util -V`", [tools.ours("dfu-util"), "-V"]),
        ("`dfu-util -l` (no device)", [tools.ours("dfu-util"), "-l"]),
    ]
    if tools.real_dfu_util:
        commands.append(("real `dfu-util -V`", [tools.real_dfu_util, "-V"]))
    if tools.peer_cli:
        commands.append((f"particle-cli {PEER_CLI_VERSION} `--version`", [tools.peer_cli, "--version"]))
    wall: dict[str, list[float]] = {label: [] for label, _ in commands}
    cpu: dict[str, list[float]] = {label: [] for label, _ in commands}
    failed: dict[str, int] = {}
    # Byte-code as a pip install leaves it: an editable checkout run with PYTHONDONTWRITEBYTECODE
    # (or never run) would compile every module on every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "particle_py")],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _label, argv in commands:                  # warm the file cache once
        _timed(argv, env)
    for _ in range(reps):
        for label, argv in commands:               # interleaved: load changes hit every command alike
            w, c, code = _timed(argv, env)
            wall[label].append(w)
            if c is not None:
                cpu[label].append(c)
            if code != 0:
                failed[label] = code
    base = commands[0][0]
    rows = []
    for label, _argv in commands:
        best = min(wall[label])
        row = [label + (f" (exit {failed[label]})" if label in failed else ""), f"{best * 1e3:.0f}",
               f"{statistics.median(wall[label]) * 1e3:.0f}", f"{best / min(wall[base]):.1f}x"]
        if cpu[label]:
            row += [f"{min(cpu[label]) * 1e3:.0f}", f"{min(cpu[label]) / min(cpu[base]):.1f}x"]
        else:
            row += ["", ""]
        rows.append(row)
    if ci:                                         # CI: a peer that is not there is a row that says so
        if not tools.real_dfu_util:
            rows.append(["real `dfu-util -V`", "MISSING (not installed)", "", "", "", ""])
        if not tools.peer_cli:
            rows.append([f"particle-cli {PEER_CLI_VERSION} `--version`", "MISSING (not installed)", "", "", "", ""])
    if tools.peer_cli:
        theirs = f"particle-cli {PEER_CLI_VERSION} `--version`"
        ratio = [f"{min(wall['`particle --help`']) / min(wall[theirs]):.2f}"]
        if cpu[theirs]:
            ratio.append(f"{min(cpu['`particle --help`']) / min(cpu[theirs]):.2f}")
        rows.append(["`particle --help` / particle-cli `--version`", "", "", ratio[0], "",
                     ratio[1] if len(ratio) > 1 else ""])
    if goals is not None:
        theirs = f"particle-cli {PEER_CLI_VERSION} `--version`"
        for label, _argv in _help_commands(tools, short):
            row = [label]
            if tools.peer_cli:
                wall_ratio = min(wall[label]) / min(wall[theirs])
                row.append(f"{wall_ratio:.2f}x " + ("ok" if wall_ratio <= 0.2 else "MISSED"))
            else:
                row.append("MISSING (not installed)" if ci else "(not installed)")
            if cpu[label]:
                cpu_ratio = min(cpu[label]) / min(cpu[base])
                row.append(f"{cpu_ratio:.1f}x " + ("ok" if cpu_ratio <= 7 else "MISSED"))
            else:
                row.append("n/a")
            goals.append(row + (["exit %d" % failed[label]] if label in failed else ["0"]))
    return rows


GOALS_HEADER = ["command", f"wall x particle-cli {PEER_CLI_VERSION} `--version` (goal <= 0.2x)",
                "CPU x `python -c pass` (goal <= 7x)", "exit"]


STARTUP_HEADER = ["command", "best wall ms", "median wall ms", "wall x baseline", "best CPU ms", "CPU x baseline"]


# --- 2. host throughput ----------------------------------------------------------------------


def throughput_rows(size: int, reps: int, work: Path) -> list[list]:
    """Our dfu-util, in-process, against the in-process simulator: Python cost per byte.
    The simulator never sleeps (its device time is only counted), so this is host time alone."""
    import io

    from particle_py.cli.dfu_util.main import main as dfu_util

    state = work / "throughput"
    image = os.urandom(size)
    (work / "big.bin").write_bytes(image)
    address = 0x08600000 - size                  # P2 internal flash, 4 KiB sectors, room for 1.5 MiB
    results = {"download": [], "upload": []}
    for _ in range(reps):
        make_state(state, "p2")
        env = dict(os.environ, PARTICLE_PY_SIM=str(state))
        for kind, args in (("download", ["-s", f"0x{address:08x}", "-D", str(work / "big.bin")]),
                           ("upload", ["-s", f"0x{address:08x}:{size}", "-U", str(work / "back.bin")])):
            if kind == "upload" and (work / "back.bin").exists():
                (work / "back.bin").unlink()
            out, err = io.StringIO(), io.StringIO()
            t0 = time.perf_counter()
            code = dfu_util(["dfu-util", "-d", "2b04:d020", "-a", "0", *args], stdout=out, stderr=err, environ=env)
            elapsed = time.perf_counter() - t0
            if code != 0:
                raise RuntimeError(f"dfu-util {kind} failed ({code}): {err.getvalue()[-400:]}")
            results[kind].append(elapsed)
        if (work / "back.bin").read_bytes() != image:
            raise RuntimeError("upload did not return the downloaded bytes")
    rows = []
    for kind in ("download", "upload"):
        best = min(results[kind])
        rows.append([f"DfuSe {kind}, {size // 1024} KiB, our dfu-util in-process", f"{best * 1e3:.0f}",
                     f"{size / MiB / best:.2f}"])
    return rows


# --- 3. flashing: modelled device time and wall time -----------------------------------------


@dataclass
class Job:
    """One thing to do to a device, as each tool spells it (None = that tool cannot)."""
    label: str
    profile: str
    fill: list                                   # what the device holds before: [(alt, address, bytes)]
    files: dict                                  # name -> bytes in the work folder
    ours: list
    dfu_util: Optional[list]
    peer_cli: Optional[list]
    check: Optional[tuple] = None                # (alt, address, bytes) the device must hold after
    cloud: bool = False
    device_os: Optional[str] = None              # the device runs this Device OS (make_state)


def _cloud_setup(work: Path, state: Path, home: Path):
    from particle_py.sim import cloud as cloud_mod
    from particle_py.sim.bus import SimBus

    cloud = cloud_mod.start(work / "cloud.sqlite")
    cloud.db.add_user(CLOUD_USER, "not-a-real-password")
    token = cloud.db.issue_token(CLOUD_USER)
    device_id = SimBus.load(state).devices()[0].serial.lower()
    cloud.db.add_device(device_id, CLOUD_USER, name="bench_photon")
    config = home / ".particle" / "particle.config.json"
    config.write_text(json.dumps({"apiUrl": cloud.url, "access_token": token, "username": CLOUD_USER,
                                  "flashWarningShownOn": 1}))
    os.chmod(config, 0o600)
    return cloud, device_id


def run_job(job: Job, tool: str, tools: Tools, work: Path) -> dict:
    """Run one job with one tool on a fresh simulated device: wall seconds, modelled us, status."""
    base = work / f"{tool}-{abs(hash(job.label)) % 10**8}"
    if base.exists():
        shutil.rmtree(base)
    files, state, home = base / "files", base / "state", base / "home"
    for folder in (files, home / ".particle"):
        folder.mkdir(parents=True)
    (home / ".particle" / "particle.config.json").write_text(json.dumps({"flashWarningShownOn": 1}))
    for name, data in job.files.items():
        (files / name).write_bytes(data)
    make_state(state, job.profile, fill=job.fill, device_os=job.device_os)
    env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(base / "cache"))
    env.pop("PARTICLE_PY_SIM", None)
    cloud = None
    argv = {"ours": job.ours, "dfu-util": job.dfu_util, "particle-cli": job.peer_cli}[tool]
    program = {"ours": None, "dfu-util": tools.real_dfu_util, "particle-cli": tools.peer_cli}[tool]
    try:
        if job.cloud:
            cloud, device_id = _cloud_setup(base, state, home)
            argv = [a.replace("{id}", device_id) for a in argv]
        if tool == "ours":
            command = [tools.ours(argv[0]), *argv[1:]]
        else:
            command = [program, *argv[1:]]
        if tools.umockdev:
            command = [str(UMOCKDEV_RUN), "--state", str(state), "--", *command]
            # umockdev announces a re-enumerated device through udev, which the system libusb
            # listens to (libusb-package's build does not): ours waits for the device after its reset
            env["PARTICLE_PY_LIBUSB"] = "system"
        else:                                    # ours only: the in-process simulator, same model
            env["PARTICLE_PY_SIM"] = str(state)
        before = device_time_us(state)
        t0 = time.perf_counter()
        proc = _run(command, env=env, cwd=files)
        wall = time.perf_counter() - t0
        modelled = device_time_us(state) - before
    finally:
        if cloud is not None:
            cloud.stop()
    ok = proc.returncode == 0
    if ok and job.check:
        alt, address, data = job.check
        ok = peek(state, alt, address, len(data)) == data
    detail = "" if ok else (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()[-1:]
    return {"wall": wall, "modelled_us": modelled, "ok": ok, "detail": detail[0] if detail else ""}


def flash_jobs(short: bool) -> list[Job]:
    """The issue's rows: system part 1 to a Photon, a 128 KB user part, the DCT key write,
    keys doctor; each first, again unchanged, and with one sector changed; then image sizes."""
    jobs = []
    sp1 = module("photon", "system", 250_000, seed=11, start=SYSTEM_PART_1)
    old_sp1 = module("photon", "system", 250_000, seed=12, start=SYSTEM_PART_1)
    sp1_changed = change_last_sector(sp1, SECTOR_128K, SYSTEM_PART_1)
    part = [("system part 1 (244 KiB)", sp1, old_sp1, sp1_changed, SYSTEM_PART_1, "sp1.bin")]
    if not short:
        user = module("photon", "user", 128 * 1024, seed=21, start=PHOTON_USER)
        old_user = module("photon", "user", 128 * 1024, seed=22, start=PHOTON_USER)
        user_changed = change_last_sector(user, SECTOR_128K, PHOTON_USER)
        part.append(("user part (128 KiB)", user, old_user, user_changed, PHOTON_USER, "user.bin"))
    for title, image, old, changed, address, name in part:
        dfu = ["dfu-util", "-d", PHOTON_DFU, "-a", "0", "-s", f"0x{address:08x}", "-D", name]
        flash = ["particle", "flash", "--usb", name]
        for situation, before, data in (("first flash, over older firmware", old, image),
                                        ("first flash, blank target", None, image),
                                        ("again, unchanged", image, image),
                                        ("again, last sector changed", image, changed)):
            fill = [(0, address, before)] if before is not None else [(0, address, b"\xff" * len(image))]
            jobs.append(Job(f"{title}: {situation}", PHOTON, fill, {name: data}, flash, dfu, flash,
                            check=(0, address, data), device_os=BENCH_DEVICE_OS))
    key = _device_key()
    jobs.append(Job("DCT device key write (`keys load`; dfu-util -a 1 -s 34)", PHOTON, [], {"key.der": key},
                    ["particle", "keys", "load", "key.der"],
                    ["dfu-util", "-d", PHOTON_DFU, "-a", "1", "-s", "34", "-D", "key.der"],
                    ["particle", "keys", "load", "key.der"], check=(1, 34, key)))
    jobs.append(Job("DCT device key write, same key again", PHOTON, [(1, 34, key)], {"key.der": key},
                    ["particle", "keys", "load", "key.der"],
                    ["dfu-util", "-d", PHOTON_DFU, "-a", "1", "-s", "34", "-D", "key.der"],
                    ["particle", "keys", "load", "key.der"], check=(1, 34, key)))
    jobs.append(Job("`keys doctor` end to end (new key, cloud, reset)", PHOTON, [], {},
                    ["particle", "keys", "doctor", "{id}"], None, ["particle", "keys", "doctor", "{id}"],
                    cloud=True))
    return jobs


def size_jobs(sizes: list[int]) -> list[Job]:
    """P2 user parts (4 KiB sectors, up to 1.5 MiB): how each figure grows with the image."""
    jobs = []
    user_end = 0x08600000
    for size in sizes:
        address = user_end - size
        image = module("p2", "user", size, seed=31)
        old = module("p2", "user", size, seed=32)
        changed = change_last_sector(image, 4096, address)
        name = f"user{size // 1024}k.bin"
        dfu = ["dfu-util", "-d", "2b04:d020", "-a", "0", "-s", f"0x{address:08x}", "-D", name]
        flash = ["particle", "flash", "--usb", name]
        for situation, data in (("first flash, over older firmware", image), ("again, unchanged", image),
                                ("again, last sector changed", changed)):
            before = old if situation.startswith("first") else image
            jobs.append(Job(f"P2 user part {size // 1024} KiB: {situation}", "p2", [(0, address, before)],
                            {name: data}, flash, dfu, flash, check=(0, address, data),
                            device_os=P2_BENCH_DEVICE_OS))
    return jobs


def _device_key() -> bytes:
    """A fixed 1024-bit RSA key (PKCS#1 DER) for the DCT write: a bench input, not a device's secret."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption())


def flash_rows(jobs: list[Job], tools: Tools, work: Path, ci: bool, say: Callable[[str], None]) -> list[list]:
    rows = []
    available = {"dfu-util": bool(tools.real_dfu_util and tools.umockdev),
                 "particle-cli": bool(tools.peer_cli and tools.umockdev)}
    for job in jobs:
        say(f"  {job.label}")
        ours = run_job(job, "ours", tools, work)
        row = [job.label + _limit_text(job), _cell(ours)]
        for tool in ("dfu-util", "particle-cli"):
            argv = job.dfu_util if tool == "dfu-util" else job.peer_cli
            if argv is None:
                row += ["(no such command)", ""]
                continue
            if not available[tool]:
                row += ["MISSING (not installed)" if ci else "(not installed)", ""]
                continue
            theirs = run_job(job, tool, tools, work)
            row += [_cell(theirs), _ratio(ours, theirs)]
        rows.append(row)
    return rows


def physical_limit_us(spec: str, alt: int, address: int, before: Optional[bytes], data: bytes) -> int:
    """The flash model's floor for a write: erase the pages where a changed byte needs a bit set
    back to 1, program the changed bytes, and carry them over USB (full 4 KiB transfers), nothing else."""
    from particle_py.sim import profiles
    from particle_py.sim.device import make_device, usb_time_us

    mem = make_device(profiles.build(spec, 0)).memory(alt)
    before = before if before is not None else b"\xff" * len(data)
    changed = [i for i in range(len(data)) if data[i] != before[i]]
    erase_pages = {}
    for i in changed:
        if data[i] & ~before[i] & 0xFF:
            bounds = mem.layout.page_bounds(address + i)
            if bounds is not None:
                erase_pages[bounds[0]] = bounds[1]
    total = sum(mem.timing.erase_us(size) for size in erase_pages.values())
    total += mem.timing.program_us(len(changed))
    full, rest = divmod(len(changed), 4096)
    return total + full * usb_time_us(4096) + (usb_time_us(rest) if rest else 0)


def _limit_text(job: "Job") -> str:
    if job.check is None:
        return ""
    alt, address, data = job.check
    before = next((b for a, addr, b in job.fill if a == alt and addr == address), None)
    try:
        return f"; limit {physical_limit_us(job.profile, alt, address, before, data) / 1e6:.3f} s"
    except (IndexError, KeyError, ValueError):
        return ""


def _cell(result: dict) -> str:
    text = f"{result['modelled_us'] / 1e6:.2f} s / {result['wall']:.1f} s"
    if not result["ok"]:
        text += f" FAILED ({result['detail'][:60]})" if result["detail"] else " FAILED"
    return text


def _ratio(ours: dict, theirs: dict) -> str:
    if not theirs["modelled_us"] or not ours["ok"] or not theirs["ok"]:
        return "n/a"
    return f"{ours['modelled_us'] / theirs['modelled_us']:.2f} / {ours['wall'] / theirs['wall']:.2f}"


# --- output ----------------------------------------------------------------------------------


# --- many devices at once ------------------------------------------------------------------------

MANY_HEADER = ["devices", "modelled device time (slowest device)", "x one device (goal <= 1.2)",
               "host CPU", "host CPU per device", "wall", "result"]


def device_times_us(state_dir) -> dict:
    """Modelled device time per USB port path over every enumeration a board had there: devices
    working at once take as long as the slowest of them."""
    state_dir = Path(state_dir)
    with open(state_dir / "state.json", encoding="utf-8") as f:
        devices = json.load(f).get("devices", [])
    times: dict = {}
    for d in devices:
        path = f"{d.get('bus', 1)}-" + ".".join(str(p) for p in d["ports"])
        times[path] = times.get(path, 0) + int(d.get("device_time_us", 0))
    log = state_dir / "log.jsonl"
    if log.exists():
        with open(log, encoding="utf-8") as f:
            for line in f:
                if '"detached"' in line:
                    entry = json.loads(line)
                    if entry.get("event") == "detached":
                        times[entry["path"]] = times.get(entry["path"], 0) + int(entry.get("t_us", 0))
    return times


def many_rows(tools: Tools, counts: list, work: Path) -> list:
    """`particle update --all` on N simulated Photons (Device OS 1.4.4 -> the pinned release, from
    particle-cli's files in the peer cache): the modelled time of the slowest device against one
    device alone, and the host CPU the run took."""
    folders = sorted(str(p) for p in PEERS.glob("particle-cli-*/node_modules/particle-cli/assets/updates"))
    if not folders:
        return [[n, "MISSING (particle-cli's Device OS files: scripts/install-peers --npm)", "", "", "", "", ""]
                for n in counts]
    rows, one = [], None
    for n in counts:
        state = work / f"many-{n}"
        env = dict(os.environ, PARTICLE_PY_SIM=str(state), HOME=str(work / f"home-{n}"),
                   XDG_CACHE_HOME=str(work / f"cache-{n}"), XDG_DATA_HOME=str(work / f"data-{n}"),
                   PARTICLE_PY_DEVICE_OS_FROM=os.pathsep.join(folders))
        made = _run([tools.ours("particle-sim"), "create", "photon", "--count", str(n), "--hub", "7",
                     "--device-os", "1.4.4"], env=env)
        if made.returncode:
            rows.append([n, "FAILED (particle-sim create)", "", "", "", "", made.stderr.decode()[-200:]])
            continue
        wall, cpu, code = _timed([tools.ours("particle"), "update", "--all", "--no-download"], env)
        slowest = max(device_times_us(state).values()) / 1e6
        one = slowest if one is None else one
        rows.append([n, f"{slowest:.2f} s", f"{slowest / one:.2f}",
                     f"{cpu:.2f} s" if cpu is not None else "?",
                     f"{cpu / n * 1000:.0f} ms" if cpu is not None else "?", f"{wall:.2f} s",
                     "ok" if code == 0 else f"FAILED (exit {code})"])
    return rows


def machine() -> str:
    cpu = platform_mod.processor() or platform_mod.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average %.1f" % os.getloadavg()[0]
    return (f"{cpu}, {os.cpu_count()} CPUs{load}; {platform_mod.system()} {platform_mod.release()}; "
            f"Python {platform_mod.python_version()}")


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true",
                        help="CI mode: few repetitions, small sizes, system part 1 only")
    parser.add_argument("--reps", type=int, help="start-up repetitions (default 20, --short 5)")
    parser.add_argument("--only", choices=["startup", "throughput", "flash", "sizes", "update", "many"],
                        action="append",
                        help="run only these sections (update: full run only, unless named here)")
    opts = parser.parse_args(argv)
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    sections = opts.only or ["startup", "throughput", "flash", "sizes", "many"] + ([] if opts.short else ["update"])
    reps = opts.reps or (5 if opts.short else 20)

    def say(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    tools = Tools.find()
    print(f"particle-py bench{' --short' if opts.short else ''}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {machine()}")
    for note in tools.notes:
        print(f"note: {note}" + (" -- MISSING under CI" if ci else ""))
    status = 0
    with tempfile.TemporaryDirectory(prefix="particle-py-bench-") as tmp:
        work = Path(tmp)
        if "startup" in sections:
            say("start-up ...")
            print("\n### Start-up (best of %d, interleaved)\n" % reps)
            goals: list = []
            print(table(STARTUP_HEADER, startup_rows(tools, reps, ci, opts.short, goals)))
            print("\n### Start-up goals: every command group's `--help`%s\n"
                  % (" (--short: a few groups)" if opts.short else ""))
            print(table(GOALS_HEADER, goals))
        if "throughput" in sections:
            say("host throughput ...")
            sizes = [64 * 1024, 256 * 1024] if opts.short else [64 * 1024, 256 * 1024, MiB]
            print("\n### Host throughput (in-process simulator, device time not waited for)\n")
            throughput_rows(4096, 1, work)         # warm-up: the first call imports the DFU code
            rows = [row for size in sizes for row in throughput_rows(size, 2 if opts.short else 5, work)]
            print(table(["transfer", "best ms", "MB/s"], rows))
        header = ["job", "ours: device / wall", "real dfu-util: device / wall", "ours/dfu-util",
                  f"particle-cli {PEER_CLI_VERSION}: device / wall", "ours/particle-cli"]
        for section, jobs in (("flash", lambda: flash_jobs(opts.short)),
                              ("sizes", lambda: size_jobs([64 * 1024] if opts.short
                                                          else [64 * 1024, 256 * 1024, MiB]))):
            if section not in sections:
                continue
            say(f"{section} ...")
            rows = flash_rows(jobs(), tools, work, ci, say)
            title = ("Flashing a simulated Photon" if section == "flash"
                     else "Growth with image size (simulated P2, 4 KiB sectors)")
            print(f"\n### {title}: modelled device time / wall time "
                  f"({'under umockdev, real libusb' if tools.umockdev else 'in-process simulator'})\n")
            print(table(header, rows))
            if any("FAILED" in str(c) for row in rows for c in row[1:2]):
                status = 1
        if "many" in sections:
            counts = [1, 8] if opts.short else [1, 8, 30]
            say("many devices ...")
            print("\n### Many devices at once: `particle update --all` on N simulated Photons behind hubs "
                  "(modelled device time of the slowest device; host CPU of the whole run)\n")
            rows = many_rows(tools, counts, work)
            print(table(MANY_HEADER, rows))
            if any("FAILED" in str(c) for row in rows for c in row):
                status = 1
        if "update" in sections:
            # minutes of particle-cli 2.16.0 runs, so not in --short (CI)
            import update_bench                    # tools/update_bench.py, beside this file

            say("update ...")
            print("\n### `particle update` on simulated devices: modelled device time, ours against "
                  "particle-cli 2.16.0 + real dfu-util (under umockdev)\n")
            if update_bench.available():
                print(table(update_bench.HEADER, update_bench.rows()))
            else:
                print(("MISSING: " if ci else "note: ") + update_bench.MISSING)
    return status


if __name__ == "__main__":
    sys.exit(main())
