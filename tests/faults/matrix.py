"""The fault matrix: every device-touching operation against every fault, at every step.

A *run* is one command (our dfu-util or particle, in-process) on a fresh simulator folder
with one fault knob set. A *cell* is one operation x one fault; it holds the runs of every
step the fault can start at (after 0, 1, 2, ... control transfers, up to the length of a
fault-free run) and every variant (each DFU status code, each libusb error, ...).

A run passes when what the user is told matches what the device holds:
- exit status 0 only if the device holds the new contents (read back from the simulator state,
  not taken from the tool's word) and any file the command wrote is right;
- otherwise a non-zero exit, no traceback, an error message (for `particle`: a message and a
  next step; dfu-util keeps the real tool's fixed wording, see docs/reliability.md), and the
  target memory holds the old contents, the new contents, or a partial write whose reported
  address (particle) or byte count (dfu-util's progress line) matches what the device holds.

Used by scripts/fault-report (the table) and tests/faults/test_matrix.py (one cell per test).
No wall-clock sleeps: the simulator's time is modelled.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for p in (str(ROOT), str(HERE.parent)):
    if p not in sys.path:
        sys.path.insert(0, p)

PHOTON_ID = "3a0035000f47343432313031"
ARGON_ID = "e00fce68a1b2c3d4e5f60718"
PHOTON_DFU = f"photon:real=1:id={PHOTON_ID}"
PHOTON_NORMAL = f"photon-normal:id={PHOTON_ID}"
ARGON_NORMAL = f"argon-normal:id={ARGON_ID}"
ARGON_DFU = f"argon:real=1:id={ARGON_ID}"
ELECTRON_ID = "1f0038000e51353532343635"
ELECTRON_DFU = f"electron:real=1:id={ELECTRON_ID}"
USER_PART = 0x080A0000            # photon user part (alt 0, internal flash)
APP_SIZE = 6000                   # two 4 KB transfers + a short one: a partial write is possible

DFU_STATUS_CODES = range(1, 16)   # errTARGET .. errSTALLEDPKT
LIBUSB_ERRORS = (-1, -4, -7, -9)  # IO, NO_DEVICE, TIMEOUT, PIPE (stall)
DFU_STATES = range(0, 11)


# --- what a run looks like -------------------------------------------------------------------

@dataclass
class Outcome:
    code: int
    out: str
    err: str
    before: dict                 # region name -> bytes
    after: dict
    files: dict                  # name -> bytes (files the command may have written), None = absent
    log: list
    ctx: "Context"
    leftovers: list = field(default_factory=list)    # temporary files the command left behind


@dataclass
class Context:
    root: Path
    sim: Path
    work: Path
    home: Path
    cloud: object = None
    data: dict = field(default_factory=dict)


@dataclass
class Operation:
    name: str
    profiles: list
    argv: Callable[[Context], list]          # ["dfu-util", ...] or ["particle", ...]
    regions: Callable[[Context], dict]       # name -> (device index, alt | "image", address, length)
    new: Callable[[Context, Outcome], dict]  # name -> the bytes a successful run leaves
    setup: Callable[[Context], None] = lambda ctx: None
    check_success: Callable[[Outcome], Optional[str]] = lambda o: None
    cloud: bool = False
    usb: bool = True
    input_file: Optional[str] = None         # the file the user gives (wrong-file-kind faults replace it)
    cloud_path: str = ""                     # the API path whose answer the hostile-cloud faults replace
    stepped: bool = True                     # stepped faults run here (issue 23's rooms: off, to stay cheap)


@dataclass
class Fault:
    family: str                  # the column of the table
    variant: str                 # e.g. "status=4" (empty for one-variant families)
    knobs: Callable[[int], dict] = lambda step: {}   # sim knobs for a fault starting at `step`
    cloud_knobs: dict = field(default_factory=dict)
    stepped: bool = False        # run it at every step of the fault-free run
    profile_options: str = ""    # appended to the device's profile (leave habits)
    needs_cloud: bool = False
    dfu_only: bool = False       # a DFU-mode fault: only meaningful where a DFU device is driven
    group: str = ""              # the report's column (default: the family)
    prepare: Optional[Callable[["Context", "Operation"], None]] = None   # changes files/config after setup
    applies_to: Optional[Callable[["Operation"], bool]] = None           # where the fault means something
    # the hook for faults that need a real process (signals: cli-core's families): runner(ctx, argv)
    # -> (exit status, stdout, stderr) replaces the in-process run; the judge stays the same
    runner: Optional[Callable[["Context", list], tuple]] = None
    extra_check: Optional[Callable[["Outcome"], Optional[str]]] = None   # more truth to check, any exit
    expected: Optional[Callable] = None      # (op, ctx, outcome) -> the bytes a successful run leaves
    argv_extra: list = field(default_factory=list)                        # options the fault adds (--force)

    @property
    def column(self) -> str:
        return self.group or self.family


# --- running one command in-process --------------------------------------------------------

@contextlib.contextmanager
def _environment(ctx: Context):
    keep_env = dict(os.environ)
    keep_cwd = os.getcwd()
    for var in ("home", "HOMEPATH", "USERPROFILE", "PARTICLE_PY_ASSET_URL", "DFU_UTIL_VERSION"):
        os.environ.pop(var, None)
    os.environ.update({"HOME": str(ctx.home), "XDG_DATA_HOME": str(ctx.root / "data"),
                       "XDG_CACHE_HOME": str(ctx.root / "cache"), "PARTICLE_PY_SIM": str(ctx.sim),
                       "PARTICLE_PY_DFU_UTIL_VERSION": "0.11", "TMPDIR": str(ctx.root / "tmp")})
    (ctx.root / "tmp").mkdir(exist_ok=True)
    keep_tempdir, tempfile.tempdir = tempfile.tempdir, str(ctx.root / "tmp")
    os.chdir(ctx.work)
    try:
        yield
    finally:
        tempfile.tempdir = keep_tempdir
        from particle_py import usb
        usb.release_simulator()
        os.chdir(keep_cwd)
        os.environ.clear()
        os.environ.update(keep_env)


def run_command(ctx: Context, argv: list) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with _environment(ctx):
        try:
            if argv[0] == "dfu-util":
                from particle_py.cli.dfu_util.main import main as dfu_main
                with contextlib.redirect_stderr(err):     # its last-resort error goes to sys.stderr
                    code = dfu_main(argv, stdout=out, stderr=err, environ=dict(os.environ))
            elif argv[0] == "particle-sim":
                from particle_py.cli.sim import main as sim_main
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = sim_main(argv[1:])
            else:
                from particle_py.cli.particle.main import main as particle_main
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = particle_main(argv[1:])
        except BaseException as exc:          # a traceback is a failed cell, not a crashed matrix
            import traceback
            err.write("Traceback (most recent call last):\n" + "".join(traceback.format_exception(exc)))
            code = -1
    return code, out.getvalue(), err.getvalue()


def read_regions(ctx: Context, regions: dict) -> dict:
    from particle_py.sim.bus import SimBus

    bus = SimBus.load(ctx.sim)
    units = {dev.unit: dev for dev in bus.devices()}
    got = {}
    for name, (unit, alt, address, length) in regions.items():
        if alt == "image":
            path = ctx.sim / f"unit{unit}-image.bin"
            if path.exists():
                got[name] = path.read_bytes()[address:address + length]
            else:
                got[name] = bytes((i * 7 + 3) & 0xFF for i in range(address, address + length))
            continue
        dev = units.get(unit)
        if dev is None or not hasattr(dev, "memory") or dev.profile.kind != "dfuse":
            # the board is unplugged or running: read its flash from the saved files through a DFU twin
            from particle_py.sim import profiles
            from particle_py.sim.device import make_device
            spec = ctx.data.get("dfu_spec", PHOTON_DFU) if unit == 0 else "photon:real=1"
            twin = make_device(profiles.build(spec, unit), unit=unit, state_dir=str(ctx.sim))
            got[name] = twin.memory(alt).peek(address, length)
        else:
            got[name] = dev.memory(alt).peek(address, length)
    return got


def new_context(base: Path) -> Context:
    root = Path(tempfile.mkdtemp(prefix="cell-", dir=base))
    ctx = Context(root=root, sim=root / "sim", work=root / "work", home=root / "home")
    ctx.work.mkdir()
    (ctx.home / ".particle").mkdir(parents=True)
    (ctx.home / ".particle" / "particle.config.json").write_text(json.dumps({"flashWarningShownOn": 1}))
    return ctx


def run_once(op: Operation, fault: Optional[Fault], step: int, base: Path) -> Outcome:
    from particle_py.sim.bus import SimBus, read_log
    from particle_py.sim.state import create_state

    ctx = new_context(base)
    profiles = list(op.profiles)
    if fault and fault.profile_options:
        profiles[0] = profiles[0] + ":" + fault.profile_options
    # the fault knobs are set after setup, so the setup's own transfers never trip them
    create_state(ctx.sim, profiles, {})
    cloud = None
    try:
        if op.cloud:
            cloud = _start_cloud(ctx)
        op.setup(ctx)
        if fault:
            knobs = fault.knobs(step)
            if knobs:
                bus = SimBus.load(ctx.sim)
                from particle_py.sim import knobs as knobs_mod
                bus.knobs = knobs_mod.normalize(knobs)
                for dev in bus.devices():
                    dev.knobs = dict(bus.knobs)
                    dev.knobs.update(dev.profile.knobs)
                bus.save()
            if cloud is not None:
                for name, value in fault.cloud_knobs.items():
                    cloud.db.set_knob(name, value)
                if fault.group == "hostile cloud":
                    cloud.db.set_knob("fail_path", op.cloud_path)
                    cloud.db.set_knob("redirect_to", _other_host().url)
            if fault.prepare is not None:
                fault.prepare(ctx, op)
        mark = len(read_log(ctx.sim))
        regions = op.regions(ctx)
        before = read_regions(ctx, regions)
        seen_elsewhere = len(_other_host().seen) if _OTHER else 0
        argv = op.argv(ctx) + (fault.argv_extra if fault else [])
        code, out, err = (fault.runner if fault and fault.runner else run_command)(ctx, argv)
        if _OTHER and len(_OTHER[0].seen) > seen_elsewhere:
            err += "\n[matrix] a request reached another host: " + repr(_OTHER[0].seen[-1][:3])
        after = read_regions(ctx, regions)
        # (a sparse 3 GB input file is not read back: only files the command may have written matter)
        files = {p.name: p.read_bytes() for p in ctx.work.iterdir() if p.is_file() and p.stat().st_size < 1 << 24}
        return Outcome(code, out, err, before, after, files, read_log(ctx.sim)[mark:], ctx, _leftovers(ctx))
    finally:
        if cloud is not None:
            cloud.stop()


def _leftovers(ctx: Context) -> list:
    """Files in the temp folder, and half-written files (*.tmp, *.part) anywhere the tools write."""
    found = [p for p in (ctx.root / "tmp").rglob("*") if p.is_file()]
    for top in (ctx.work, ctx.home, ctx.root / "data", ctx.root / "cache"):
        found += [p for p in top.rglob("*") if p.is_file() and p.suffix in (".tmp", ".part", ".partial")]
    return [str(p.relative_to(ctx.root)) for p in found]


_OTHER: list = []


def _other_host():
    """A recorder on another loopback address: a redirect "away" points here, and nothing may arrive."""
    if not _OTHER:
        sys.path.insert(0, str(HERE.parent / "cloud"))
        from hostile import HostileApi
        _OTHER.append(HostileApi("127.0.0.2").on("*", 200, {"access_token": "f" * 40, "ok": True,
                                                            "username": "mallory"}))
    return _OTHER[0]


def _start_cloud(ctx: Context):
    from particle_py.sim import cloud as sim_cloud

    running = sim_cloud.start(ctx.sim / "cloud" / "cloud.sqlite")
    running.db.add_user("alice@example.com", "pw")
    token = running.db.issue_token("alice@example.com")
    running.db.add_device(PHOTON_ID, owner="alice@example.com")
    running.db.add_device(ARGON_ID, owner="alice@example.com")
    config = ctx.home / ".particle" / "particle.config.json"
    settings = json.loads(config.read_text())
    settings.update({"apiUrl": running.url, "access_token": token})
    config.write_text(json.dumps(settings))
    ctx.cloud = running
    ctx.data["token"] = token
    return running


# --- judging a run ----------------------------------------------------------------------------

# words of an instruction: the message must tell the user what to do next
_NEXT_STEP = re.compile(r"\b(try|run|check|make sure|press|hold|unplug|plug|reconnect|install|log ?in|"
                        r"to finish|to roll back|again|wait|restart|claim|update|put the device|give|use|load|create)\b"
                        r"|--help\b", re.I)


# dfu-util's own documented behaviour, kept on purpose (docs/reliability.md): the run is judged
# by these rules instead of "exit 0 means the new contents".
KEPT = [
    ("dfu-util -D (DFU 1.1)", re.compile(r"unable to read DFU status after completion"),
     "plain DFU: every block was sent and acknowledged, then the device did not answer the final "
     "GETSTATUS; dfu-util 0.8-0.10 warn and exit 0 (dfu_load.c; 0.11 exits 74); what the device keeps "
     "is up to it"),
]


def kept(op: Operation, o: Outcome) -> Optional[str]:
    if o.code != 0:
        return None
    for name, pattern, why in KEPT:
        if op.name == name and pattern.search(o.err):
            return why
    return None


def judge(op: Operation, fault: Optional[Fault], o: Outcome) -> Optional[str]:
    """None if the run is truthful and safe, else why not."""
    if "Traceback" in o.err or "Traceback" in o.out or o.code < 0:
        return "traceback: " + o.err.strip().splitlines()[-1][:160]
    if re.search(r"^\S+: internal error", o.err, re.M):
        # the runner's last resort is a bug report, never an answer (issue 23)
        return next(line for line in o.err.splitlines() if "internal error" in line)[:200]
    if o.leftovers:
        return "left behind: " + ", ".join(o.leftovers[:3])
    if "[matrix] a request reached another host" in o.err:
        return o.err.strip().splitlines()[-1]
    if any(c in o.out + o.err for c in "\x1b\x07\x08"):
        return "a control character reached the terminal: " + repr((o.out + o.err)[:120])
    if any((where / "escaped").exists() for where in (o.ctx.root, o.ctx.root.parent, o.ctx.work.parent)):
        return "a file was written outside the working folder (a serial number became a path)"
    if fault is not None and fault.extra_check is not None:
        problem = fault.extra_check(o)
        if problem:
            return problem
    new = expected(op, fault, o)
    if kept(op, o):
        return None
    if o.code == 0:
        for name, data in o.after.items():
            if data != new[name]:
                what = "old contents" if data == o.before[name] else "other contents"
                return f"exit 0 but {name} holds {what}"
        return op.check_success(o)
    if not o.err.strip():
        return f"exit {o.code} with nothing on stderr"
    dfu_util = op.argv(o.ctx)[0] == "dfu-util"
    if dfu_util:
        if not re.search(r"(dfu-util: |^Error|error)", o.err, re.I | re.M):
            return "dfu-util failed without an error line"
    elif not _NEXT_STEP.search(o.err):
        return "no next step in: " + " / ".join(o.err.strip().splitlines())[:200]
    regions = op.regions(o.ctx)
    for name, data in o.after.items():
        if data in (o.before[name], new[name]):
            continue
        if _told_state(o, name, regions[name], data, new[name]):
            continue        # the interruption report told what this region holds, and it does
        reached = _reported_progress(o, dfu_util, regions[name][2])
        if reached is None:
            return f"{name} changed to neither old nor new contents and no partial write was reported"
        if data[:reached] != new[name][:reached]:
            return f"{name}: reported {reached} bytes written, but the device holds something else"
    return None


def expected(op: Operation, fault: Optional[Fault], o: Outcome) -> dict:
    if fault is not None and fault.expected is not None:
        return fault.expected(op, o.ctx, o)
    return op.new(o.ctx, o)


def classify(op: Operation, o: Outcome, fault: Optional[Fault] = None) -> list:
    """'old' / 'new' / 'partial' for each target region after the run."""
    new = expected(op, fault, o)
    return ["old" if data == o.before[name] else "new" if data == new[name] else "partial"
            for name, data in o.after.items()]


def _reported_progress(o: Outcome, dfu_util: bool, start: int) -> Optional[int]:
    """How many bytes of the region starting at ``start`` the tool said it wrote: dfu-util's
    last progress count, or the offset of the address in particle's "... at 0x..."."""
    if dfu_util:
        counts = re.findall(r"\]\s+\d+%\s+(\d+) bytes", o.out + o.err)
        return int(counts[-1]) if counts else None
    m = re.search(r" at 0x([0-9a-f]{8})", o.err)
    if not m:
        return None
    reached = int(m.group(1), 16)
    return None if reached < start else reached - start


# --- the operations ---------------------------------------------------------------------------

def _app_bytes() -> bytes:
    from helpers.modules import build_module
    return build_module("photon", size=APP_SIZE, seed=7)


def _old_app() -> bytes:
    from helpers.modules import build_module
    return build_module("photon", size=APP_SIZE, seed=99)


def _poke(ctx, unit, alt, address, data):
    from particle_py.sim.bus import SimBus
    bus = SimBus.load(ctx.sim)
    dev = [d for d in bus.devices() if d.unit == unit][0]
    dev.memory(alt).poke(address, data)
    bus.save()


def _setup_app(ctx):
    (ctx.work / "app.bin").write_bytes(_app_bytes())
    _poke(ctx, 0, 0, USER_PART, _old_app())


def _user_region(ctx):
    return {"user part": (0, 0, USER_PART, APP_SIZE)}


def _new_app(ctx, o):
    return {"user part": _app_bytes()}


def _unchanged(ctx, o):
    return dict(o.before)


def _key_slot(platform="photon", proto=None):
    from particle_py.platforms import by_name
    p = by_name(platform)
    return p.device_key[proto or p.default_protocol]


def _server_slot():
    from particle_py.platforms import by_name
    p = by_name("photon")
    return p.server_key[p.default_protocol]


_KEYS: dict = {}


def _keys():
    """Keys made once per process: RSA generation is the slow part of a keys run."""
    if not _KEYS:
        from particle_py.keys import formats
        _KEYS["old"] = formats.device_der(formats.generate("rsa"))
        _KEYS["new"] = formats.device_der(formats.generate("rsa"))
        from cryptography.hazmat.primitives.asymmetric import rsa
        _KEYS["server"] = formats.public_pem(rsa.generate_private_key(65537, 2048))
    return _KEYS


def _setup_key(ctx):
    slot = _key_slot()
    old = _keys()["old"]
    _poke(ctx, 0, slot.alt, slot.address, old + b"\xff" * (slot.size - len(old)))
    (ctx.work / "new.der").write_bytes(_keys()["new"])


def _key_region(ctx):
    s = _key_slot(ctx.data.get("platform", "photon"))
    return {"key slot": (0, s.alt, s.address, s.size)}


def _setup_ec_key(ctx):
    """An Argon (Gen3, EC keys: key generation costs nothing, so doctor can run thousands of times)."""
    from particle_py.keys import formats
    ctx.data.update(platform="argon", dfu_spec=ARGON_DFU)
    slot = _key_slot("argon")
    old = formats.device_der(formats.generate("ec"))
    _poke(ctx, 0, slot.alt, slot.address, old + b"\xff" * (slot.size - len(old)))


def _server_region(ctx):
    s = _server_slot()
    return {"server key slot": (0, s.alt, s.address, s.size)}


def _setup_server(ctx):
    s = _server_slot()
    _poke(ctx, 0, s.alt, s.address, b"\x5a" * s.size)
    (ctx.work / "server.pub.pem").write_bytes(_keys()["server"])


def _server_new(ctx, o):
    from particle_py.keys import formats
    spki = formats.public_der(formats.parse_key(_keys()["server"]).key)
    blob = bytearray(spki + b"\xff" * (512 - len(spki)))
    blob[384:390] = bytes([0, 4, 192, 168, 1, 10])
    blob[450:452] = (5683).to_bytes(2, "big")
    return {"server key slot": bytes(blob)}


def _loaded_key(ctx, o):
    new = _keys()["new"]
    return {"key slot": new + o.before["key slot"][len(new):]}


def _doctor_key(ctx, o):
    path = ctx.work / f"{ARGON_ID}_ec_new.der"
    new = path.read_bytes() if path.exists() else b"\x00"   # no new key file: the slot must be old
    return {"key slot": new + o.before["key slot"][len(new):]}


def _doctor_success(o):
    from particle_py.keys import formats
    new = (o.ctx.work / f"{ARGON_ID}_ec_new.der").read_bytes()
    if o.ctx.cloud.db.handshake(ARGON_ID, formats.public_der(formats.parse_key(new).key)) != "ok":
        return "exit 0 but the cloud does not have the new key"
    return None


def _send_success(o):
    from particle_py.keys import formats
    if o.ctx.cloud.db.handshake(PHOTON_ID, formats.public_der(formats.parse_key(_keys()["new"]).key)) != "ok":
        return "exit 0 but the cloud does not have the key"
    return None


def _save_success(o):
    got = o.files.get("saved.der")
    if got is None:
        return "exit 0 but no saved.der"
    slot = o.after["key slot"]
    if not slot.startswith(got):
        return "exit 0 but saved.der is not what the slot holds"
    return None


def _upload_success(o):
    if o.files.get("up.bin") != o.after["user part"][:4096]:
        return "exit 0 but up.bin differs from the device"
    return None


def _upload_partial_ok(o):
    return None


def _new_key_files(o):
    names = [n for n in o.files if n.endswith(".pem") and "pub" not in n]
    if not names:
        return "exit 0 but no private key file"
    return None


def _in_dfu_after(o):
    dfu = [e for e in o.log if e.get("event") == "control" and e.get("id", "").startswith("2b04:d")]
    if not any(e.get("id") == "2b04:d006" for e in o.log) and not _now_in_dfu(o.ctx):
        return "exit 0 but the device is not in DFU mode"
    return None


def _now_in_dfu(ctx) -> bool:
    from particle_py.sim.bus import SimBus
    return any(d.vid == 0x2B04 and d.pid & 0xFF00 == 0xD000 for d in SimBus.load(ctx.sim).devices())


def _usb_dfu_success(o):
    return None if _now_in_dfu(o.ctx) else "exit 0 but the device is not in DFU mode"


def _reset_success(o):
    if not any(e.get("event") in ("detached", "reset") or (e.get("event") == "control" and e.get("bRequest") == 0x50)
               for e in o.log):
        return "exit 0 but no reset reached the device"
    return None


def _detach_success(o):
    if not any(e.get("event") == "control" and e["bmRequestType"] == 0x21 and e["bRequest"] == 0 for e in o.log):
        return "exit 0 but no DFU_DETACH reached the device"
    return None


def _device_os_modules() -> dict:
    from helpers.modules import build_module
    from particle_py.firmware.module import ModuleFunction as F
    part1 = build_module("photon", function=F.SYSTEM_PART, index=1, version=207, size=6000, deps=(), seed=11)
    part2 = build_module("photon", function=F.SYSTEM_PART, index=2, version=207, size=6000,
                         deps=((F.SYSTEM_PART, 1, 207),), seed=12)
    app = build_module("photon", size=APP_SIZE, deps=((F.SYSTEM_PART, 2, 207),), seed=13)
    return {"system-part1.bin": part1, "system-part2.bin": part2, "app.bin": app}


def _os_regions(ctx):
    from particle_py.platforms import by_name
    p = by_name("photon")
    return {"system part 1": (0, 0, p.system_parts[0], 6000), "system part 2": (0, 0, p.system_parts[1], 6000),
            "user part": (0, 0, p.user_part.address, APP_SIZE)}


def _setup_os(ctx):
    regions = _os_regions(ctx)
    for (name, data), (_region, (_u, alt, address, length)) in zip(_device_os_modules().items(), regions.items()):
        (ctx.work / name).write_bytes(data)
        _poke(ctx, 0, alt, address, bytes((i * 31 + 7) & 0xFF for i in range(length)))


def _os_new(ctx, o):
    return dict(zip(_os_regions(ctx), _device_os_modules().values()))


def _update_modules() -> dict:
    """A small stand-in Device OS release 9.0.0 (particle update --target 9.0.0 --from .)."""
    from helpers.modules import build_module
    from particle_py.firmware.module import ModuleFunction as F
    part1 = build_module("photon", function=F.SYSTEM_PART, index=1, version=9000, size=6000, deps=(), seed=21)
    part2 = build_module("photon", function=F.SYSTEM_PART, index=2, version=9000, size=6000,
                         deps=((F.SYSTEM_PART, 1, 9000),), seed=22)
    return {"photon-system-part1@9.0.0.bin": part1, "photon-system-part2@9.0.0.bin": part2}


def _update_regions(ctx):
    from particle_py.platforms import by_name
    p = by_name("photon")
    return {"system part 1": (0, 0, p.system_parts[0], 6000), "system part 2": (0, 0, p.system_parts[1], 6000)}


def _setup_update(ctx):
    for (name, data), (_region, (_u, alt, address, length)) in zip(_update_modules().items(),
                                                                    _update_regions(ctx).items()):
        (ctx.work / name).write_bytes(data)
        _poke(ctx, 0, alt, address, bytes((i * 31 + 7) & 0xFF for i in range(length)))


def _update_new(ctx, o):
    return dict(zip(_update_regions(ctx), _update_modules().values()))


def _setup_dfu_file(ctx):
    from particle_py.dfu import dfuse_file
    _setup_app(ctx)
    (ctx.work / "app.dfu").write_bytes(dfuse_file.build([(0, [(USER_PART, _app_bytes())])], vendor=0x2B04,
                                                       product=0xD006))


def _setup_transport(ctx):
    from particle_py.platforms import ELECTRON_TRANSPORT_SLOT as slot
    ctx.data.update(dfu_spec=ELECTRON_DFU)
    _poke(ctx, 0, slot.alt, slot.address, b"\xff")


def _transport_region(ctx):
    from particle_py.platforms import ELECTRON_TRANSPORT_SLOT as slot
    return {"transport byte": (0, slot.alt, slot.address, 1)}


def _image_region(ctx):
    return {"image": (0, "image", 0, 8192)}


def _setup_plain(ctx):
    (ctx.work / "fw.bin").write_bytes(bytes((i * 13 + 1) & 0xFF for i in range(8192)))


def _plain_new(ctx, o):
    return {"image": bytes((i * 13 + 1) & 0xFF for i in range(8192))}


def _no_region(ctx):
    return {}


OPERATIONS: list[Operation] = [
    Operation("dfu-util -D (DfuSe)", [PHOTON_DFU],
              lambda c: ["dfu-util", "-d", "2b04:d006", "-a", "0", "-s", f"0x{USER_PART:08x}", "-D", "app.bin"],
              _user_region, _new_app, _setup_app, input_file="app.bin"),
    Operation("dfu-util -D :leave", [PHOTON_DFU],
              lambda c: ["dfu-util", "-d", "2b04:d006", "-a", "0", "-s", f"0x{USER_PART:08x}:leave", "-D",
                         "app.bin"],
              _user_region, _new_app, _setup_app, input_file="app.bin"),
    Operation("dfu-util -U", [PHOTON_DFU],
              lambda c: ["dfu-util", "-d", "2b04:d006", "-a", "0", "-s", f"0x{USER_PART:08x}:4096", "-U", "up.bin"],
              _user_region, _unchanged, _setup_app, _upload_success),
    Operation("dfu-util -D app.dfu", [PHOTON_DFU], lambda c: ["dfu-util", "-a", "0", "-D", "app.dfu"],
              _user_region, _new_app, _setup_dfu_file, input_file="app.dfu"),
    Operation("dfu-util -D (DFU 1.1)", ["dfu11"],
              lambda c: ["dfu-util", "-D", "fw.bin"], _image_region, _plain_new, _setup_plain, input_file="fw.bin"),
    Operation("dfu-util -e", ["runtime"], lambda c: ["dfu-util", "-e"], _no_region,
              lambda c, o: {}, check_success=_detach_success),
    Operation("flash --usb", [PHOTON_DFU], lambda c: ["particle", "flash", "--usb", "app.bin"],
              _user_region, _new_app, _setup_app, input_file="app.bin"),
    Operation("flash --usb (Device OS)", [PHOTON_DFU],
              lambda c: ["particle", "flash", "--usb", "app.bin", "system-part2.bin", "system-part1.bin"],
              _os_regions, _os_new, _setup_os, input_file="app.bin"),
    Operation("flash --usb (normal)", [PHOTON_NORMAL], lambda c: ["particle", "flash", "--usb", "app.bin"],
              _user_region, _new_app, _setup_app, input_file="app.bin"),
    Operation("update", [PHOTON_DFU], lambda c: ["particle", "update", "--target", "9.0.0", "--from", ".",
                                                 "--no-download"],
              _update_regions, _update_new, _setup_update),
    Operation("keys new", [ARGON_DFU], lambda c: ["particle", "keys", "new"], _key_region, _unchanged,
              _setup_ec_key, _new_key_files),
    Operation("keys load", [PHOTON_DFU], lambda c: ["particle", "keys", "load", "new.der"], _key_region,
              _loaded_key, _setup_key, input_file="new.der"),
    Operation("keys save", [PHOTON_DFU], lambda c: ["particle", "keys", "save", "saved.der"], _key_region,
              _unchanged, _setup_key, _save_success),
    Operation("keys server", [PHOTON_DFU],
              lambda c: ["particle", "keys", "server", "server.pub.pem", "--host", "192.168.1.10", "--port", "5683"],
              _server_region, _server_new, _setup_server, input_file="server.pub.pem"),
    Operation("keys address", [PHOTON_DFU], lambda c: ["particle", "keys", "address"], _server_region,
              _unchanged, _setup_server),
    Operation("keys protocol", [ELECTRON_DFU], lambda c: ["particle", "keys", "protocol", "--protocol", "tcp"],
              _transport_region, lambda c, o: {"transport byte": b"\x00"}, _setup_transport),
    Operation("keys doctor", [ARGON_DFU], lambda c: ["particle", "keys", "doctor", ARGON_ID], _key_region,
              _doctor_key, _setup_ec_key, _doctor_success, cloud=True, cloud_path="/v1/provisioning"),
    Operation("keys send", [PHOTON_DFU],
              lambda c: ["particle", "keys", "send", PHOTON_ID, "new.pub.pem"], _no_region,
              lambda c, o: {}, lambda c: _write_pub(c), _send_success, cloud=True, usb=False,
              input_file="new.pub.pem", cloud_path="/v1/provisioning"),
    Operation("usb dfu", [ARGON_NORMAL], lambda c: ["particle", "usb", "dfu"], _no_region, lambda c, o: {},
              check_success=_usb_dfu_success),
    Operation("usb reset", [ARGON_NORMAL], lambda c: ["particle", "usb", "reset"], _no_region,
              lambda c, o: {}, check_success=_reset_success),
]


# --- operations of the cloud alone (issue 11: hostile replies, odd configuration) -----------------

CLAIMABLE = "0123456789abcdef01234567"


def _config_values(ctx) -> dict:
    """The active profile's settings (profile.json names it, as particle-cli reads it)."""
    try:
        profile = json.loads((ctx.home / ".particle" / "profile.json").read_text()).get("name") or "particle"
    except (OSError, ValueError, AttributeError):
        profile = "particle"
    try:
        return json.loads((ctx.home / ".particle" / f"{profile}.config.json").read_text())
    except (OSError, ValueError):
        return {}


def _login_success(o):
    token = _config_values(o.ctx).get("access_token")
    if not isinstance(token, str) or o.ctx.cloud.db.user_for_token(token) is None:
        return "exit 0 but the saved token is not one the cloud issued"
    return None


def _whoami_success(o):
    return None if o.out == "alice@example.com\n" else f"exit 0 but printed {o.out!r}"


def _logout_success(o):
    return "exit 0 but the token is still saved" if "access_token" in _config_values(o.ctx) else None


def _setup_claimable(ctx):
    ctx.cloud.db.add_device(CLAIMABLE, connected=True)


def _claim_success(o):
    if (o.ctx.cloud.db.device(CLAIMABLE) or {}).get("owner") != "alice@example.com":
        return "exit 0 but the device is not claimed"
    return None


def _keeps_login_on_failure(o):
    """A failed login never loses (or replaces) the saved one."""
    if o.code != 0 and o.ctx.data.get("token") and _config_values(o.ctx).get("access_token") != o.ctx.data["token"]:
        return "a failed login changed the saved token"
    return None


OPERATIONS += [
    Operation("login", [PHOTON_DFU], lambda c: ["particle", "login", "-u", "alice@example.com", "-p", "pw"],
              _no_region, lambda c, o: {}, check_success=_login_success, cloud=True, usb=False,
              cloud_path="/oauth/token"),
    Operation("whoami", [PHOTON_DFU], lambda c: ["particle", "whoami"], _no_region, lambda c, o: {},
              check_success=_whoami_success, cloud=True, usb=False, cloud_path="/v1/user"),
    Operation("logout", [PHOTON_DFU], lambda c: ["particle", "logout"], _no_region, lambda c, o: {},
              check_success=_logout_success, cloud=True, usb=False, cloud_path="/v1/access_tokens"),
    Operation("device add", [PHOTON_DFU], lambda c: ["particle", "device", "add", CLAIMABLE], _no_region,
              lambda c, o: {}, _setup_claimable, _claim_success, cloud=True, usb=False, cloud_path="/v1/devices"),
]


def _write_pub(ctx):
    from particle_py.keys import formats
    (ctx.work / "new.pub.pem").write_bytes(formats.public_pem(formats.parse_key(_keys()["new"]).key))


# --- the faults ---------------------------------------------------------------------------------

def _stepped(family, name, make, **kw):
    return Fault(family, name, make, stepped=True, **kw)


FAULTS: list[Fault] = (
    [_stepped("unplugged", "", lambda n: {"UNPLUG_AFTER": n}),
     _stepped("stall", "", lambda n: {"STALL_AFTER": n}),
     _stepped("timeout", "", lambda n: {"TIMEOUT_AFTER": n}),
     _stepped("second device", "", lambda n: {"SECOND_DEVICE_AFTER": n})]
    + [_stepped("DFU status", f"status={s}", (lambda s: lambda n: {"STATUS_AFTER": f"{s}@{n}"})(s), dfu_only=True)
       for s in DFU_STATUS_CODES]
    + [Fault("open fails", f"libusb {c}", (lambda c: lambda n: {"OPEN_FAIL": c})(c)) for c in (-1, -3, -4, -6)]
    + [Fault("data transfer error", f"DNLOAD {c}", (lambda c: lambda n: {"DNLOAD_ERR": c})(c), dfu_only=True)
       for c in LIBUSB_ERRORS]
    + [Fault("data transfer error", f"UPLOAD {c}", (lambda c: lambda n: {"UPLOAD_ERR": c})(c), dfu_only=True)
       for c in LIBUSB_ERRORS]
    + [Fault("leave answer", f"error {c}", (lambda c: lambda n: {"LEAVE_ERR": c})(c), dfu_only=True)
       for c in LIBUSB_ERRORS]
    + [Fault("leave answer", f"state {s}", (lambda s: lambda n: {"LEAVE_STATE": s})(s), dfu_only=True)
       for s in DFU_STATES]
    + [Fault("leave answer", f"habit {h}", profile_options=f"leave={h}", dfu_only=True)
       for h in ("reset", "dnidle", "manifest")]
    + [Fault("slow re-enumeration", f"{ms} ms", (lambda ms: lambda n: {"REENUM_DELAY_MS": ms})(ms))
       for ms in (1500, 20000, 120000)]
    + [Fault("new address", "", lambda n: {"REENUM_NEW_PORT": 1}),
       Fault("new address", "slow", lambda n: {"REENUM_NEW_PORT": 1, "REENUM_DELAY_MS": 3000})]
    + [Fault("cloud error", f"HTTP {s}", cloud_knobs={"fail": str(s)}, needs_cloud=True)
       for s in (400, 401, 403, 404, 429, 500, 502, 503)]
    + [Fault("cloud garbage", kind, cloud_knobs={"fail_mode": kind}, needs_cloud=True)
       for kind in ("garbage", "html", "drop")]
)


# --- issue 11: forced writes, wrong file kinds, odd descriptors, hostile cloud, odd configuration ------
# Each kind of hostile input is its own family (one cell per operation); the report groups them in
# one column per kind. They run once per cell (no steps): the input is the fault.

def _replace_input(make):
    def prepare(ctx, op):
        path = ctx.work / op.input_file
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        make(path)
    return prepare


def _bytes(data_fn):
    return lambda path: path.write_bytes(data_fn())


def _sparse(path):
    with open(path, "wb") as fh:
        fh.truncate(3 * 1024 ** 3)


def _ec_private():
    from particle_py.keys import formats
    return formats.device_der(formats.generate("ec"))


def _ec_public():
    from particle_py.keys import formats
    return formats.public_pem(formats.generate("ec"))


def _argon_module():
    from helpers.modules import build_module
    return build_module("argon", size=APP_SIZE, seed=5)


# what a wrong file is, and for which operations it would be the right kind (then it is no fault)
WRONG_FILES = [
    ("empty file", _bytes(lambda: b""), {"dfu-util"}),
    ("random bytes", _bytes(lambda: bytes((i * 7919 + 13) % 251 for i in range(5000))), {"dfu-util"}),
    ("device private key", _bytes(_ec_private), {"dfu-util", "keys load", "keys send"}),
    ("public key", _bytes(_ec_public), {"dfu-util", "keys send"}),
    ("module for another platform", _bytes(_argon_module), {"dfu-util"}),
    ("folder", lambda path: path.mkdir(), set()),
    ("FIFO", lambda path: os.mkfifo(path), set()),
    ("3 GB file", _sparse, set()),
]


def _right_kind(op: Operation, right: set) -> bool:
    return any(op.name.startswith(r) for r in right)


def _untouched_when_refused(o):
    """A refused file leaves the device as it was: not even a switch to DFU mode."""
    if o.code == 0:
        return None
    from particle_py import control_codes as control
    if any(e.get("event") == "control" and (e["bmRequestType"] & 0x60) == 0x40 and e["wIndex"] == control.DFU_MODE
           for e in o.log):
        return "the device was switched to DFU mode for a file that was then refused"
    if any(e.get("event") == "control" and e["bmRequestType"] == 0x21 and e["bRequest"] == 1 for e in o.log):
        return "DNLOAD requests reached the device for a file that was refused"
    return None


def _forced_truth(o):
    if o.code == 0 and ("Flash success!" in o.out or "Warning: " not in o.err):
        return "a forced write the device cannot run was reported as a plain success"
    return None


def _forced_module(kind):
    def make(path):
        from helpers.modules import build_module
        if kind == "wrong platform":
            path.write_bytes(build_module("photon", platform_id=8, size=APP_SIZE, seed=7))   # a P1 app
        else:
            path.write_bytes(build_module("photon", size=APP_SIZE, seed=7, bad_crc=True))
    return make


def _forced_new(op, ctx, o):
    """What a forced write leaves: the forced file in the user part (the rest as the operation's own)."""
    return {**op.new(ctx, o), "user part": (ctx.work / op.input_file).read_bytes()}


ODD_DESCRIPTORS = [
    ("layout page size 0", {"ALT0_NAME": "@Internal Flash /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*0Kg"}),
    ("layout of 10^8 pages", {"ALT0_NAME": "@Internal Flash /0x08000000/99999999*1Bg"}),
    ("DCT layout page size 0", {"ALT1_NAME": "@DCT Flash /0x00000000/01*0Kg"}),
    ("DCT layout of 10^8 pages", {"ALT1_NAME": "@DCT Flash /0x00000000/99999999*1Bg"}),
    ("serial ../../../escaped", {"SERIAL": "../../../escaped"}),
    ("no serial", {"SERIAL": ""}),
    ("serial with escapes", {"SERIAL": "\x1b[2J\x07id"}),
]


def _edit_config(change):
    def prepare(ctx, op):
        path = ctx.home / ".particle" / "particle.config.json"
        values = _config_values(ctx)
        result = change(values, ctx)
        if isinstance(result, bytes):
            path.write_bytes(result)
        elif result is not None:
            path.write_text(json.dumps(result))
    return prepare


def _particle_dir_is_a_file(ctx, op):
    shutil.rmtree(ctx.home / ".particle")
    (ctx.home / ".particle").write_text("not a folder")


ODD_CONFIGS = [
    ("apiUrl without scheme", _edit_config(lambda v, c: {**v, "apiUrl": "api.particle.io"})),
    ("apiUrl plain http", _edit_config(lambda v, c: {**v, "apiUrl": "http://192.0.2.1:8080"})),
    ("apiUrl not a string", _edit_config(lambda v, c: {**v, "apiUrl": 5})),
    ("config not JSON", _edit_config(lambda v, c: b"{not json")),
    ("config a JSON list", _edit_config(lambda v, c: b"[]")),
    ("token and user of other types", _edit_config(lambda v, c: {**v, "access_token": 5, "username": {"a": 1}})),
    ("profile names a missing profile", lambda ctx, op: (ctx.home / ".particle" / "profile.json").write_text(
        json.dumps({"name": "nosuch"}))),
    (".particle is a file", _particle_dir_is_a_file),
]

HOSTILE_REPLIES = ["empty", "list", "wrong types", "deep nesting", "huge", "escapes", "raw escapes",
                   "redirect-away", "redirect-bad", "redirect-loop"]

FAULTS += (
    [Fault(f"forced: {kind}", "", group="forced write", prepare=_replace_input(_forced_module(kind)),
           applies_to=lambda op: op.name.startswith("flash --usb"), extra_check=_forced_truth,
           expected=_forced_new, argv_extra=["--force"])
     for kind in ("wrong platform", "bad CRC")]
    + [Fault(f"wrong file: {name}", "", group="wrong file kind", prepare=_replace_input(make),
             applies_to=(lambda right: lambda op: op.input_file is not None and not _right_kind(op, right))(right),
             extra_check=_untouched_when_refused)
       for name, make, right in WRONG_FILES]
    + [Fault(f"descriptor: {name}", "", (lambda k: lambda n: dict(k))(knobs), group="odd descriptor",
             applies_to=lambda op: op.usb)
       for name, knobs in ODD_DESCRIPTORS]
    + [Fault(f"config: {name}", "", group="odd configuration", prepare=prep,
             applies_to=lambda op: op.argv(None)[0] == "particle")
       for name, prep in ODD_CONFIGS]
    + [Fault(f"hostile cloud: {mode}", "", cloud_knobs={"fail_mode": mode}, needs_cloud=True, group="hostile cloud",
             extra_check=_keeps_login_on_failure)
       for mode in HOSTILE_REPLIES]
)


# --- issue 23 (findings 6-8): real signals while the writing commands write -----------------------
# One family, "signal": the installed console script runs as a real process on the cell's
# simulator folder (the way tests/signals does it); the device holds a DNLOAD (PAUSE_AFTER=1@n),
# the signal is sent, the device goes on. Steps: DNLOAD ordinals of the fault-free run, spread
# over erases, address commands and data blocks. Every run's report is read as a claim about each
# region (untouched, erased from-to, written up to X) and checked against the flash afterwards.

SIGNAL_FAMILY = "signal"
SIGNALLED_OPS = ("flash --usb", "flash --usb (Device OS)", "update", "keys load", "keys server")
SIGNAL_STEPS = 16           # DNLOAD ordinals per variant, spread over the run


def _signal_runner(sig):
    def run(ctx, argv):
        import signal as signals
        import time

        from helpers.processes import Child, script, wait_pending
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PARTICLE_PY_", "PYTEST", "COV_"))}
        (ctx.root / "tmp").mkdir(exist_ok=True)
        env.update(HOME=str(ctx.home), XDG_DATA_HOME=str(ctx.root / "data"), XDG_CACHE_HOME=str(ctx.root / "cache"),
                   PARTICLE_PY_SIM=str(ctx.sim), PARTICLE_PY_DFU_UTIL_VERSION="0.11", TMPDIR=str(ctx.root / "tmp"),
                   PYTHONUNBUFFERED="1", TERM="dumb")
        paused = ctx.sim / "paused"
        paused.unlink(missing_ok=True)
        child = Child([script(argv[0]), *map(str, argv[1:])], env, str(ctx.work), False)
        deadline = time.monotonic() + 120
        while not paused.exists() and child.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if paused.exists():
            child.interrupt(sig)
            wait_pending(child.pid, sig)
            paused.unlink()
        elif child.proc.poll() is None:
            os.kill(child.pid, signals.SIGKILL)
        got = child.wait()
        ctx.data["signalled"] = int(sig)
        return (-1 if got.signalled else got.status), got.out, got.err
    return run


def _signal_steps(op: Operation, base: Path) -> list[int]:
    clean_transfers(op, base)
    total = len(_DNLOAD_STEPS[op.name])
    if total <= SIGNAL_STEPS:
        return list(range(1, total + 1))
    return sorted({1 + round(i * (total - 1) / (SIGNAL_STEPS - 1)) for i in range(SIGNAL_STEPS)})


_HEX = r"0x([0-9a-f]{8})"
_HEXN = r"0x[0-9a-f]{8}"


def _claims(text: str) -> list:
    """(start, end, [(lo, hi, state)]) for each module the report tells the state of."""
    out = []
    for m in re.finditer(rf"Nothing of \S+ was written \({_HEX}-{_HEX} is as it was\)", text):
        a, b = int(m.group(1), 16), int(m.group(2), 16)
        out.append((a, b, [(a, b, "old")]))
    for m in re.finditer(rf"Nothing of \S+ was written yet: all of {_HEX}-{_HEX} is erased", text):
        a, b = int(m.group(1), 16), int(m.group(2), 16)
        out.append((a, b, [(a, b, "blank")]))
    for m in re.finditer(rf"Nothing of \S+ was written yet: ((?:{_HEXN}-{_HEXN}(?:, )?)+) is erased \(blank\), "
                         rf"the rest of {_HEX}-{_HEX} is as it was", text):
        a, b = int(m.group(2), 16), int(m.group(3), 16)
        spans = [(int(x, 16), int(y, 16), "blank") for x, y in re.findall(rf"{_HEX}-{_HEX}", m.group(1))]
        out.append((a, b, spans))
    for m in re.finditer(rf"\S+ was written only up to {_HEX} \(of {_HEX}-{_HEX}\); the device may not start "
                         rf"until it is written whole\.(?: {_HEX}-{_HEX} is erased \(blank\))?", text):
        r, a, b = (int(m.group(i), 16) for i in (1, 2, 3))
        spans = [(a, r, "new")]
        if m.group(4):
            spans.append((int(m.group(4), 16), int(m.group(5), 16), "blank"))
        out.append((a, b, spans))
    for m in re.finditer(rf"Not written: \S+ \((untouched|written up to {_HEX}(?:, erased {_HEX}-{_HEX})?|"
                         rf"erased {_HEX}-{_HEX}, nothing of it written yet), {_HEX}-{_HEX}\)", text):
        a, b = int(m.group(7), 16), int(m.group(8), 16)
        if m.group(1) == "untouched":
            spans = [(a, b, "old")]
        elif m.group(2):
            spans = [(a, int(m.group(2), 16), "new")]
            if m.group(3):
                spans.append((int(m.group(3), 16), int(m.group(4), 16), "blank"))
        else:
            spans = [(int(m.group(5), 16), int(m.group(6), 16), "blank")]
        out.append((a, b, spans))
    for m in re.finditer(rf"Not written: \S+ \(sent whole, not checked yet, {_HEX}-{_HEX}\)", text):
        a, b = int(m.group(1), 16), int(m.group(2), 16)
        out.append((a, b, [(a, b, "new")]))
    return out


def _claim_mismatch(o: Outcome, name: str, region, data: bytes, new: bytes) -> tuple:
    """(told, problem) for one region: whether the report told its state, and where the flash
    disagrees with what it told (bytes not claimed are the old ones)."""
    _unit, _alt, start, length = region
    for a, b, spans in _claims(o.out + o.err):
        if a != start:
            continue
        told = [(max(lo, a), min(hi, b), kind) for lo, hi, kind in spans]
        at = start
        for lo, hi, kind in sorted(told) + [(b, b, "end")]:
            if lo > at and data[at - start:lo - start] != o.before[name][at - start:lo - start]:
                return True, f"{name}: 0x{at:08x}-0x{lo:08x} is not as it was, though the report says nothing of it"
            piece = data[lo - start:hi - start]
            want = {"old": o.before[name][lo - start:hi - start], "blank": b"\xff" * (hi - lo),
                    "new": new[lo - start:hi - start], "end": b""}[kind]
            if piece != want:
                return True, f"{name}: the report says 0x{lo:08x}-0x{hi:08x} is {kind}, the flash holds otherwise"
            at = max(at, hi)
        return True, None
    return False, None


def _told_state(o: Outcome, name: str, region, data: bytes, new: bytes) -> bool:
    """The judge's hook: the report told this region's state (and it is true)."""
    told, problem = _claim_mismatch(o, name, region, data, new)
    return told and problem is None


def _interruption_is_told(o: Outcome) -> Optional[str]:
    sig = o.ctx.data.get("signalled")
    if sig is None or o.code == 0:
        return None             # the step was past the end of the run: it finished
    if o.code != 128 + sig:
        return f"exit {o.code} after signal {sig} (expected {128 + sig})"
    lines = [ln for ln in o.err.strip().splitlines() if ln.strip()]
    if lines and lines[-1].startswith("Interrupted") and len(lines) == 1:
        return "only '" + lines[-1] + "': no word of what the device holds"
    op = o.ctx.data["op"]
    new = expected(op, None, o)
    for name, region in op.regions(o.ctx).items():
        _told, problem = _claim_mismatch(o, name, region, o.after[name], new[name])
        if problem:
            return problem
    return None


FAULTS += [Fault(SIGNAL_FAMILY, name, (lambda step: {"PAUSE_AFTER": f"1@{step}"}), stepped=True,
                 runner=_signal_runner(sig), extra_check=_interruption_is_told,
                 prepare=lambda ctx, op: ctx.data.update(op=op), applies_to=lambda op: op.name in SIGNALLED_OPS)
           for name, sig in (("SIGINT", 2), ("SIGTERM", 15))]
# --- end of issue 23's block ------------------------------------------------------------------------------------

# --- issue 23: the new rooms (update from folders, zips and downloads; serial; the doctor's cloud
# read; particle-sim). New operations first, then their fault families. None of them is stepped:
# the input is the fault, one run per variant. ------------------------------------------------------

def _release_regions(ctx):
    """The two system parts update writes, and the user part it must leave alone."""
    return {**_update_regions(ctx), "user part": (0, 0, USER_PART, APP_SIZE)}


def _setup_release(ctx):
    _setup_update(ctx)
    _poke(ctx, 0, 0, USER_PART, _old_app())
    for name in _update_modules():          # the files live in the release folder, not the working one
        (ctx.work / name).unlink()


def _release_new(ctx, o):
    return {**_update_new(ctx, o), "user part": o.before["user part"]}


def _setup_release_folder(ctx):
    _setup_release(ctx)
    folder = ctx.work / "release"
    folder.mkdir()
    for name, data in _update_modules().items():
        (folder / name).write_bytes(data)


def _write_zip(path, members):
    """members: [(name, bytes)] (a name may repeat: the zip format allows it)."""
    import warnings
    import zipfile
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "Duplicate name" is the point of one family
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)


def _setup_release_zip(ctx):
    _setup_release(ctx)
    _write_zip(ctx.work / "release.zip", list(_update_modules().items()))


# a Device OS download answered by a raw loopback server (status lines and headers are scripted too)
_RAW: list = []


def _http(status=200, body=b"", headers=None, reason="OK") -> bytes:
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    if "Content-Length" not in (headers or {}):
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "Connection: close\r\n\r\n").encode("latin-1") + body


def _raw_server():
    if not _RAW:
        import socket
        import threading

        answers: dict = {}
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)

        def serve():
            while True:
                conn, _ = sock.accept()
                with conn:
                    conn.settimeout(5)
                    data = b""
                    try:
                        while b"\r\n\r\n" not in data and len(data) < 65536:
                            chunk = conn.recv(4096)
                            if not chunk:
                                break
                            data += chunk
                        line = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
                        path = line[1].split("?")[0] if len(line) > 1 else ""
                        answers.setdefault("seen", []).append(path)
                        # any other file is served as part 2: a name the client should never ask for
                        # ("..", "x/") still gets a module back, as from a careless mirror
                        answer = answers.get(path) or (answers.get("/files/*") if path.startswith("/files/")
                                                       else None) or _http(404, {"error": "not found"})
                        conn.sendall(answer(path) if callable(answer) else answer)
                    except OSError:
                        pass

        threading.Thread(target=serve, daemon=True).start()
        _RAW.append((f"http://127.0.0.1:{sock.getsockname()[1]}", answers))
    return _RAW[0]


def _download_info(base_url, modules=None) -> dict:
    names = list(_update_modules())
    return {"version": "9.0.0", "base_url": base_url,
            "modules": modules if modules is not None else
            [{"filename": n, "prefixInfo": {"moduleFunction": "system_part"}} for n in names]}


def _setup_download(ctx):
    _setup_release(ctx)
    url, answers = _raw_server()
    answers.clear()
    answers["/v1/device-os/versions/9.0.0"] = _http(200, _download_info(url + "/files"))
    for name, data in _update_modules().items():
        answers[f"/files/{name}"] = _http(200, data, {"Content-Type": "application/octet-stream"})
    answers["/files/*"] = answers[f"/files/{name}"]
    config = ctx.home / ".particle" / "particle.config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "apiUrl": url, "access_token": "d" * 40}))


# serial: a Photon in listening mode whose USB control interface cannot be opened (no udev rules),
# so every question goes over the listening-mode serial protocol
def _setup_serial(ctx, knobs=None):
    from particle_py.sim import devices as simdev
    from particle_py.sim.bus import SimBus
    _poke(ctx, 0, 0, USER_PART, _old_app())
    simdev.press(ctx.sim, "listen", None)
    bus = SimBus.load(ctx.sim)
    bus.knobs = knobs or {"OPEN_FAIL": -3}
    for dev in bus.devices():
        dev.knobs = dict(bus.knobs)
    bus.save()


def _serial_says(expected_line):
    def check(o):
        return None if expected_line(o.ctx) in o.out.splitlines() else f"exit 0 but printed {o.out[:200]!r}"
    return check


def _mac_line(ctx):
    from particle_py.sim import device_info
    return "Your device MAC address is " + ":".join(f"{b:02x}" for b in device_info.mac_address(PHOTON_ID))


# the doctor's cloud read: a scripted API on loopback answers GET /v1/devices/<id>
_RECORDS: list = []


def _records_api():
    if not _RECORDS:
        sys.path.insert(0, str(HERE.parent / "cloud"))
        from hostile import HostileApi
        _RECORDS.append(HostileApi("127.0.0.1"))
    return _RECORDS[0]


GOOD_RECORD = {"id": ARGON_ID, "name": "argon", "owner": "alice@example.com", "connected": True,
               "platform_id": 12}


def _setup_doctor(ctx):
    _setup_ec_key(ctx)
    api = _records_api()
    api.answers.clear()
    api.on(f"/v1/devices/{ARGON_ID}", 200, GOOD_RECORD).on("/v1/user", 200, {"username": "alice@example.com"})
    config = ctx.home / ".particle" / "particle.config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "apiUrl": api.url, "access_token": "e" * 40,
                                  "username": "alice@example.com"}))


def _doctor_read_success(o):
    """The report says what the cloud answered (claimed, not claimed, or why it was not checked)."""
    return None if re.search(r"^\s*\S+\s+cloud: |not claimed to your account", o.out, re.M) else \
        "exit 0 but the doctor's report has no cloud line"


# particle-sim: the state folder's files are what "the device holds"
def _sim_created(o):
    from particle_py.sim.bus import SimBus
    try:
        devices = SimBus.load(o.ctx.work / "newsim").devices()
    except Exception as exc:       # the folder it said it made cannot be read
        return f"exit 0 but the new state cannot be loaded: {exc!r}"
    return None if len(devices) == 1 else f"exit 0 but the new state holds {len(devices)} devices"


def _sim_firmware_written(o):
    folder = o.ctx.work / "fw"
    from particle_py.firmware.module import parse
    files = sorted(folder.glob("*.bin")) if folder.is_dir() else []
    if not files:
        return "exit 0 but no firmware files"
    for path in files:
        try:
            parse(path.read_bytes())
        except Exception as exc:
            return f"exit 0 but {path.name} is not a module: {exc}"
    return None


def _status_success(o):
    return None if PHOTON_ID in o.out else f"exit 0 but the status does not name the device: {o.out[:200]!r}"


def _usb_list_success(o):
    return None if PHOTON_ID in o.out else f"exit 0 but the list does not name the device: {o.out[:200]!r}"


def _dfu_list_success(o):
    return None if "2b04:d006" in o.out else f"exit 0 but the list does not show the device: {o.out[:200]!r}"


_UPDATE_ARGV = ["particle", "update", "--target", "9.0.0", "--no-download"]

OPERATIONS += [
    Operation("update --from <folder>", [PHOTON_DFU], lambda c: _UPDATE_ARGV + ["--from", "release"],
              _release_regions, _release_new, _setup_release_folder, stepped=False),
    Operation("update --from <zip>", [PHOTON_DFU], lambda c: _UPDATE_ARGV + ["--from", "release.zip"],
              _release_regions, _release_new, _setup_release_zip, input_file="release.zip", stepped=False),
    Operation("update (download)", [PHOTON_DFU], lambda c: ["particle", "update", "--target", "9.0.0"],
              _release_regions, _release_new, _setup_download, stepped=False),
    # identify asks USB first whenever the port names a device id: this port names none
    Operation("serial identify", [PHOTON_NORMAL], lambda c: ["particle", "serial", "identify", "--port",
                                                             "/dev/ttyACM0"], _user_region,
              _unchanged, lambda c: _setup_serial(c, {"OPEN_FAIL": -3, "SERIAL": ""}), _serial_says(lambda c: f"Your device id is {PHOTON_ID}"), usb=False,
              stepped=False),
    Operation("serial mac", [PHOTON_NORMAL], lambda c: ["particle", "serial", "mac"], _user_region, _unchanged,
              _setup_serial, _serial_says(_mac_line), usb=False, stepped=False),
    Operation("serial inspect", [PHOTON_NORMAL], lambda c: ["particle", "serial", "inspect"], _user_region,
              _unchanged, _setup_serial, _serial_says(lambda c: "Platform: 6 - Photon"), usb=False, stepped=False),
    Operation("doctor --dry-run (cloud read)", [ARGON_DFU], lambda c: ["particle", "doctor", ARGON_ID, "--dry-run"],
              _key_region, _unchanged, _setup_doctor, _doctor_read_success, usb=False, stepped=False),
    Operation("particle-sim create", [PHOTON_DFU],
              lambda c: ["particle-sim", "create", "photon", "--state", "newsim"], _user_region, _unchanged,
              _setup_app, _sim_created, usb=False, stepped=False),
    Operation("particle-sim status", [PHOTON_DFU], lambda c: ["particle-sim", "status"], _user_region, _unchanged,
              _setup_app, _status_success, usb=False, stepped=False),
    Operation("particle-sim firmware", [PHOTON_DFU],
              lambda c: ["particle-sim", "firmware", "photon", "--dir", "fw"], _user_region, _unchanged,
              _setup_app, _sim_firmware_written, usb=False, stepped=False),
    Operation("usb list", [PHOTON_DFU], lambda c: ["particle", "usb", "list"], _user_region, _unchanged,
              _setup_app, _usb_list_success, usb=False, stepped=False),
    Operation("dfu-util -l", [PHOTON_DFU], lambda c: ["dfu-util", "-l"], _user_region, _unchanged,
              _setup_app, _dfu_list_success, usb=False, stepped=False),
]

UPDATE_ROOMS = ("update", "update --from <folder>", "update --from <zip>")
SERIAL_ROOMS = ("serial identify", "serial mac", "serial inspect")


# --- issue 23: hostile release files (folder and zip contents) ----------------------------------

def _must_fail(o):
    """A release Device OS cannot boot (or did not ask for) is never an update success."""
    return "exit 0 for a release the device cannot run as Device OS 9.0.0" if o.code == 0 else None


def _modules_with(**changes):
    """The stand-in release with part 2 (or ``which``) rebuilt from build_module keyword changes."""
    from helpers.modules import build_module
    from particle_py.firmware.module import ModuleFunction as F
    which = changes.pop("which", 2)
    modules = dict(_update_modules())
    name = list(modules)[which - 1]
    kw = dict(function=F.SYSTEM_PART, index=which, version=9000, size=6000,
              deps=() if which == 1 else ((F.SYSTEM_PART, 1, 9000),), seed=40 + which)
    kw.update(changes)
    modules[name] = build_module("photon", **kw)
    return modules


def _part2_user_app():
    from helpers.modules import build_module
    from particle_py.firmware.module import ModuleFunction as F
    modules = dict(_update_modules())
    modules[list(modules)[1]] = build_module("photon", size=6000, deps=((F.SYSTEM_PART, 2, 9000),), seed=43)
    return modules


# name -> (the release's files as {name: bytes}, must the run fail?)
BAD_RELEASES = {
    "header says 1.0.0": (lambda: _modules_with(version=1000), True),
    "header says an rc": (lambda: _modules_with(version=8901), True),
    "part 1 says another version": (lambda: _modules_with(which=1, version=1000), True),
    "a user app named as system part": (_part2_user_app, True),
    "dependencies not met": (lambda: _modules_with(deps=((2, 1, 9100),)), True),
    "system part linked at the user part": (lambda: _modules_with(start=USER_PART), True),
}


def _release_as(modules_fn):
    def prepare(ctx, op):
        modules = modules_fn()
        if op.name == "update --from <zip>":
            _write_zip(ctx.work / "release.zip", list(modules.items()))
        else:
            folder = ctx.work / ("release" if op.name == "update --from <folder>" else "")
            for name, data in modules.items():
                (folder / name).write_bytes(data)
    return prepare


def _version_typo(ctx, op):
    """Part 2 exists only as @9.0.01 (another version whose name holds "@9.0.0")."""
    modules = _modules_with(version=9001)
    name2 = list(modules)[1]
    typo = {name2.replace("@9.0.0", "@9.0.01"): modules[name2], list(modules)[0]: modules[list(modules)[0]]}
    if op.name == "update --from <zip>":
        _write_zip(ctx.work / "release.zip", list(typo.items()))
        return
    folder = ctx.work / ("release" if op.name == "update --from <folder>" else "")
    (folder / name2).unlink()
    for name, data in typo.items():
        (folder / name).write_bytes(data)


def _twice_same_name(ctx, op):
    """Two files of one base name: a wrong one first (a zip member or a subfolder), the right one after."""
    bad = _modules_with(version=1000)
    name2 = list(bad)[1]
    if op.name == "update --from <zip>":
        members = list(_update_modules().items())
        _write_zip(ctx.work / "release.zip", [members[0], ("old/" + name2, bad[name2]), ("new/" + name2, members[1][1])])
        return
    folder = ctx.work / ("release" if op.name == "update --from <folder>" else "")
    (folder / "a-old").mkdir()
    (folder / "a-old" / name2).write_bytes(bad[name2])


def _bad_file_in_cache(ctx, op):
    """A bad file in the Device OS cache, under the right name; the folder given holds the right one."""
    bad = _modules_with(version=1000)
    name2 = list(bad)[1]
    cache = ctx.root / "cache" / "particle-py" / "device-os" / "9.0.0" / "photon"
    cache.mkdir(parents=True)
    (cache / name2).write_bytes(bad[name2])


def _fifo_part(ctx, op):
    folder = ctx.work / ("release" if op.name == "update --from <folder>" else "")
    name2 = list(_update_modules())[1]
    (folder / name2).unlink()
    os.mkfifo(folder / name2)


FIFO_PATIENCE_S = 3


def _fifo_watchdog(ctx, argv):
    """A command that opens the FIFO waits for a writer forever: after a few seconds the matrix
    plays that writer (it closes at once, so the reader sees an empty file) and fails the run."""
    import threading
    fifos = [p for p in ctx.work.rglob("*") if p.is_fifo()]
    done = threading.Event()
    unblocked = []

    def watch():
        if done.wait(FIFO_PATIENCE_S):
            return
        for fifo in fifos:
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))   # ENXIO when nobody reads it
                unblocked.append(fifo.name)
            except OSError:
                pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        code, out, err = run_command(ctx, argv)
    finally:
        done.set()
        watcher.join()
    if unblocked:
        err += f"\n[matrix] the command blocked reading the FIFO {unblocked[0]}"
    return code, out, err


def _not_blocked(o):
    return "blocked on a FIFO named as a module (a hang)" if "[matrix] the command blocked" in o.err else None


def _dangling_part(ctx, op):
    folder = ctx.work / ("release" if op.name == "update --from <folder>" else "")
    name2 = list(_update_modules())[1]
    (folder / name2).unlink()
    os.symlink(folder / "nowhere.bin", folder / name2)


def _zip_with(flag=None, method=None, corrupt=False):
    """The release zip with part 2's member marked encrypted, given an unknown method, or its
    deflate stream damaged (headers patched in place: the local header and the central directory)."""
    def prepare(ctx, op):
        import struct
        path = ctx.work / "release.zip"
        data = bytearray(path.read_bytes())
        name2 = list(_update_modules())[1].encode()
        for sig, flag_at, method_at, name_len_at, name_at in ((b"PK\x03\x04", 6, 8, 26, 30),
                                                              (b"PK\x01\x02", 8, 10, 28, 46)):
            pos = data.find(sig)
            while pos >= 0:
                n = struct.unpack_from("<H", data, pos + name_len_at)[0]
                if bytes(data[pos + name_at:pos + name_at + n]) == name2:
                    if flag is not None:
                        struct.pack_into("<H", data, pos + flag_at, struct.unpack_from("<H", data, pos + flag_at)[0] | flag)
                    if method is not None:
                        struct.pack_into("<H", data, pos + method_at, method)
                    if corrupt and sig == b"PK\x03\x04":
                        extra = struct.unpack_from("<H", data, pos + 28)[0]
                        start = pos + 30 + n + extra
                        data[start:start + 16] = b"\xff" * 16
                pos = data.find(sig, pos + 4)
        path.write_bytes(bytes(data))
    return prepare


ROOM_FILE_FAULTS = (
    [(f"release: {name}", _release_as(make), UPDATE_ROOMS, must) for name, (make, must) in BAD_RELEASES.items()]
    + [("release: named @9.0.01", _version_typo, UPDATE_ROOMS, True),
       ("release: two files of one name", _twice_same_name, UPDATE_ROOMS, False),
       ("release: a bad file in the cache", _bad_file_in_cache, UPDATE_ROOMS, False),
       ("release: FIFO named as a module", _fifo_part, ("update", "update --from <folder>"), True),
       ("release: dangling symlink", _dangling_part, ("update", "update --from <folder>"), True),
       ("release: encrypted zip member", _zip_with(flag=0x1), ("update --from <zip>",), True),
       ("release: unknown compression", _zip_with(method=99), ("update --from <zip>",), True),
       ("release: corrupt deflate stream", _zip_with(corrupt=True), ("update --from <zip>",), True)]
)


# --- issue 23: hostile Device OS download answers ------------------------------------------------

def _answer(path, make):
    def prepare(ctx, op):
        url, answers = _raw_server()
        answers[path] = make(url)
    return prepare


def _info_answer(make_info):
    return _answer("/v1/device-os/versions/9.0.0", lambda url: _http(200, make_info(url)))


def _file_answer(make):
    return _answer("/files/" + list(_update_modules())[1], make)


def _redirect_file_away(url):
    return _http(302, b"", {"Location": _other_host().url + "/files/" + list(_update_modules())[1]}, "Found")


def _cache_sane(o):
    """The Device OS cache holds only module files in <version>/<platform>/ folders."""
    top = o.ctx.root / "cache" / "particle-py" / "device-os"
    for path in top.rglob("*") if top.is_dir() else []:
        depth = len(path.relative_to(top).parts)
        if (depth < 3 and not path.is_dir()) or (depth == 3 and not (path.is_file() and path.suffix == ".bin")) \
                or depth > 3:
            return f"the Device OS cache holds {path.relative_to(top)} ({'a folder' if path.is_dir() else 'a file'})"
    return None


DOWNLOAD_FAULTS = [
    ("modules: 5", _info_answer(lambda url: {**_download_info(url + "/files"), "modules": 5}), True),
    ("filename ..", _info_answer(lambda url: _download_info(url + "/files", [{"filename": ".."}])), True),
    ("filename x/", _info_answer(lambda url: _download_info(url + "/files", [{"filename": "x/"}])), True),
    ("base_url port not a number", _info_answer(lambda url: _download_info("http://127.0.0.1:port/files")), True),
    ("base_url with a user@ host", _info_answer(
        lambda url: _download_info("http://localhost@" + _other_host().url.split("//", 1)[1] + "/files")), True),
    ("status line not HTTP", _file_answer(lambda url: b"SSH-2.0-OpenSSH_9.6\r\n"), True),
    ("header over 64 KiB", _file_answer(lambda url: b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 70000 + b"\r\n\r\n"), True),
    ("body shorter than its length", _file_answer(
        lambda url: _http(200, b"\x00" * 100, {"Content-Length": "6000"})), True),
    ("redirect to another host", _file_answer(_redirect_file_away), True),
    ("answer not JSON", _answer("/v1/device-os/versions/9.0.0", lambda url: _http(200, b"<html>hi</html>")), True),
    ("file with another version's header", _file_answer(
        lambda url: _http(200, _modules_with(version=1000)[list(_update_modules())[1]])), True),
]


# --- issue 23: serial devices that flood, stall or lie -------------------------------------------

FLOOD_ITEMS, FLOOD_ITEM_BYTES = 40, 16 * 1024       # 640 KiB: more than any one reply may be


def _not_listening(ctx):
    from particle_py.control_codes import MODE_NORMAL
    from particle_py.sim.bus import SimBus
    bus = SimBus.load(ctx.sim)
    for dev in bus.devices():
        dev.mode = MODE_NORMAL
    bus.save()


def _app_prints(events):
    def prepare(ctx, op):
        from particle_py.sim import serial as sim_serial
        _not_listening(ctx)
        sim_serial.script_app_output(ctx.sim, 0, events(ctx))
    return prepare


def _serial_fault(**faults):
    def prepare(ctx, op):
        from particle_py.sim import serial as sim_serial
        sim_serial.set_faults(ctx.sim, 0, **faults)
    return prepare


def _bounded_read(o):
    """The command stopped reading while the device was still sending (a bound on time and bytes)."""
    from particle_py.sim import serial as sim_serial
    pos = sim_serial.load_board(str(o.ctx.sim), 0).get("script_pos", 0)
    if pos >= FLOOD_ITEMS:
        return f"the command read the device's whole flood ({FLOOD_ITEMS * FLOOD_ITEM_BYTES} bytes): no bound"
    return None


def _no_huge_line(o):
    longest = max((len(line) for line in (o.out + o.err).splitlines()), default=0)
    return f"a {longest}-character line reached the terminal" if longest > 4096 else None


SERIAL_FAULTS = [
    ("flood", _app_prints(lambda c: ["log line " + "x" * (FLOOD_ITEM_BYTES - 10) + "\n"] * FLOOD_ITEMS),
     _bounded_read, True),
    ("stall", lambda ctx, op: _not_listening(ctx), None, True),
    ("garbage reply", _serial_fault(reply="garbage"), None, True),
    ("half a reply", _serial_fault(reply="partial"), None, False),
    ("port busy", _serial_fault(open="busy"), None, True),
    ("port denied", _serial_fault(open="denied"), None, True),
    ("a 100 KB reply line", _app_prints(lambda c: [f"Device ID: {PHOTON_ID}\r\nIMEI: " + "9" * 100_000 + "\r\n"]),
     _no_huge_line, False),
    ("unplugged mid-reply", _app_prints(lambda c: ["Your device ", {"event": "unplug"}]), None, True),
    ("reset mid-reply", _app_prints(lambda c: ["Your device ", {"event": "reset"}]), None, True),
]


# --- issue 23: hostile cloud records of the device (the doctor's read) ------------------------------

def _record(body, status=200):
    def prepare(ctx, op):
        _records_api().on(f"/v1/devices/{ARGON_ID}", status, body)
    return prepare


def _never_says(*phrases):
    def check(o):
        said = [p for p in phrases if p in o.out + o.err]
        return f"the doctor said {said[0]!r} from a record that does not say so" if said else None
    return check


_CLAIMED = "claimed to your account"
RECORD_FAULTS = [
    ("{}", _record({}), _never_says(_CLAIMED)),
    ("connected \"false\"", _record({**GOOD_RECORD, "connected": "false"}), _never_says("and online")),
    ("connected 1", _record({**GOOD_RECORD, "connected": 1}), _never_says("and online")),
    ("another device's record", _record({**GOOD_RECORD, "id": CLAIMABLE}), _never_says(_CLAIMED)),
    ("id of another type", _record({**GOOD_RECORD, "id": 5}), _never_says(_CLAIMED)),
    ("a JSON list", _record([GOOD_RECORD]), _never_says(_CLAIMED)),
    ("null", _record(b"null"), _never_says(_CLAIMED)),
    ("not JSON", _record(b"<html>captive portal</html>"), _never_says(_CLAIMED)),
    ("a 2 MB name", _record({**GOOD_RECORD, "name": "n" * (2 << 20)}), _no_huge_line),
]


# --- issue 23: particle-sim arguments and damaged simulator state ----------------------------------

SIM_ARGUMENTS = [
    ("create --device-os 99999.1.1", "particle-sim create", ["--device-os", "99999.1.1"]),
    ("create --device-os ../../../escaped", "particle-sim create", ["--device-os", "../../../escaped"]),
    ("create --id not-hex", "particle-sim create", ["--id", "zz" * 12]),
    ("create --fault NOPE=1", "particle-sim create", ["--fault", "NOPE=1"]),
    ("create --bootloader 99999", "particle-sim create", ["--bootloader", "99999"]),
    ("firmware --dir /dev/null", "particle-sim firmware", ["--dir", "/dev/null"]),
    ("firmware --dir a file", "particle-sim firmware", ["--dir", "app.bin"]),
    ("firmware --device-os ../../../escaped", "particle-sim firmware", ["--device-os", "../../../escaped"]),
    ("firmware --device-os 99999.1.1", "particle-sim firmware", ["--device-os", "99999.1.1"]),
]


def _damaged_state(damage):
    """Run the command over a damaged state.json, then put the real one back, so the judge reads
    what the device holds (the command must not have changed it)."""
    def runner(ctx, argv):
        state = ctx.sim / "state.json"
        keep = state.read_bytes()
        damage(state)
        try:
            return run_command(ctx, argv)
        finally:
            if state.is_dir():
                shutil.rmtree(state)
            state.write_bytes(keep)
    return runner


def _sim_is_a_file(ctx, argv):
    from dataclasses import replace
    (ctx.root / "simfile").write_text("not a folder")
    return run_command(replace(ctx, sim=ctx.root / "simfile"), argv)


def _write(data):
    return lambda path: path.write_bytes(data)


def _folder(path):
    path.unlink()
    path.mkdir()


DAMAGED_STATES = [
    ("state.json not JSON", _damaged_state(_write(b'{"devices": ['))),
    ("state.json empty", _damaged_state(_write(b""))),
    ("state.json a JSON list", _damaged_state(_write(b"[]"))),
    ("state.json of wrong types", _damaged_state(_write(json.dumps(
        {"version": 1, "devices": 5, "knobs": "x", "arriving": None, "clock_us": "now"}).encode()))),
    ("state.json a device of wrong types", _damaged_state(_write(json.dumps(
        {"version": 1, "devices": [{"spec": 5, "unit": "zero", "ports": None}], "knobs": {}}).encode()))),
    ("state.json a folder", _damaged_state(_folder)),
    ("PARTICLE_PY_SIM names a file", _sim_is_a_file),
]

_SIM_READERS = ("particle-sim status", "usb list", "dfu-util -l") + SERIAL_ROOMS


def _in(names):
    return lambda op: op.name in names


# A release Device OS itself refuses after the boot (a dependency particle-py cannot see before:
# a module the device lacks): the files are written, and the report must say so.
WRITTEN_THEN_REFUSED = ("release: dependencies not met",)


def _written_release(name):
    make = BAD_RELEASES[name.removeprefix("release: ")][0]
    return lambda op, ctx, o: {**op.new(ctx, o), **dict(zip(_update_regions(ctx), make().values()))}


def _says_written(o):
    return _must_fail(o) or (None if "The bytes are in flash" in o.err else
                             "the release's bytes are in flash and the report does not say so")


FAULTS += (
    [Fault(name, "", group="hostile release file", prepare=prep, applies_to=_in(rooms),
           extra_check=((lambda o: _not_blocked(o) or _must_fail(o)) if "FIFO" in name else
                        _says_written if name in WRITTEN_THEN_REFUSED else _must_fail if must else None),
           expected=_written_release(name) if name in WRITTEN_THEN_REFUSED else None,
           runner=_fifo_watchdog if "FIFO" in name else None)
     for name, prep, rooms, must in ROOM_FILE_FAULTS]
    + [Fault(f"download: {name}", "", group="hostile download", prepare=prep, applies_to=_in(("update (download)",)),
             extra_check=(lambda o: _cache_sane(o) or _must_fail(o)) if must else _cache_sane)
       for name, prep, must in DOWNLOAD_FAULTS]
    + [Fault(f"serial: {name}", "", group="hostile serial device", prepare=prep, applies_to=_in(SERIAL_ROOMS),
             extra_check=(lambda check, must: lambda o: (check and check(o)) or (must and o.code == 0 and
                                                         "exit 0 from a device that never answered") or None)(
                 check, must))
       for name, prep, check, must in SERIAL_FAULTS]
    + [Fault(f"cloud record: {name}", "", group="hostile device record", prepare=prep,
             applies_to=_in(("doctor --dry-run (cloud read)",)), extra_check=check)
       for name, prep, check in RECORD_FAULTS]
    + [Fault(f"sim argument: {name}", "", group="particle-sim arguments", applies_to=_in((op_name,)),
             argv_extra=extra)
       for name, op_name, extra in SIM_ARGUMENTS]
    + [Fault(f"sim state: {name}", "", group="damaged simulator state", runner=runner,
             applies_to=lambda op: op.usb or op.name in _SIM_READERS)
       for name, runner in DAMAGED_STATES]
)


FAMILIES = list(dict.fromkeys(f.family for f in FAULTS))
COLUMNS = list(dict.fromkeys(f.column for f in FAULTS))


def applies(op: Operation, fault: Fault) -> bool:
    if fault.stepped and not op.stepped:
        return False
    if fault.applies_to is not None:
        return fault.applies_to(op)
    if fault.needs_cloud:
        return op.cloud
    if not op.usb:
        return False
    return not (fault.dfu_only and op.profiles[0] in (ARGON_NORMAL,) and op.name.startswith("usb"))


def steps_for(op: Operation, fault: Fault, base: Path) -> list[int]:
    if not fault.stepped:
        return [0]
    if fault.family == SIGNAL_FAMILY:
        return _signal_steps(op, base)
    total = clean_transfers(op, base)
    if fault.family == "DFU status":
        # the status knob hits the first DFU operation after step n: only the steps right
        # before each DNLOAD give different runs
        return [n for n in _DNLOAD_STEPS[op.name]] or [0]
    return list(range(0, total + 1))


_CLEAN: dict = {}
_DNLOAD_STEPS: dict = {}


def clean_transfers(op: Operation, base: Path) -> int:
    """Control transfers of a fault-free run (the longest any one device object sees)."""
    if op.name not in _CLEAN:
        o = run_once(op, None, 0, base)
        problem = judge(op, None, o)
        if problem:
            raise AssertionError(f"{op.name}: the fault-free run fails: {problem or o.err}")
        controls = [e for e in o.log if e.get("event") == "control"]
        _CLEAN[op.name] = len(controls)
        _DNLOAD_STEPS[op.name] = [i for i, e in enumerate(controls)
                                  if e["bmRequestType"] == 0x21 and e["bRequest"] == 1]
        shutil.rmtree(o.ctx.root, ignore_errors=True)
    return _CLEAN[op.name]


@dataclass
class CellResult:
    op: str
    family: str
    runs: int = 0
    failures: list = field(default_factory=list)      # (variant, step, reason)
    kept: int = 0                                     # runs judged by a KEPT rule
    device: Counter = field(default_factory=Counter)  # what the target memory held afterwards


def run_cell(op: Operation, family: str, base: Optional[Path] = None, stop_at_first: bool = False) -> CellResult:
    own = base is None
    base = Path(tempfile.mkdtemp(prefix="faults-")) if own else base
    result = CellResult(op.name, family)
    try:
        for fault in (f for f in FAULTS if f.family == family and applies(op, f)):
            for step in steps_for(op, fault, base):
                o = run_once(op, fault, step, base)
                result.runs += 1
                result.kept += bool(kept(op, o))
                problem = judge(op, fault, o)
                result.device.update(classify(op, o, fault))
                if problem:
                    result.failures.append((fault.variant, step, problem))
                    if stop_at_first:
                        return result
                shutil.rmtree(o.ctx.root, ignore_errors=True)
    finally:
        if own:
            shutil.rmtree(base, ignore_errors=True)
    return result


def cells() -> list[tuple[str, str]]:
    return [(op.name, fam) for op in OPERATIONS for fam in FAMILIES
            if any(f.family == fam and applies(op, f) for f in FAULTS)]


def by_name(name: str) -> Operation:
    return next(op for op in OPERATIONS if op.name == name)


# --- the report ---------------------------------------------------------------------------------

def _cell_job(args):
    op_name, family = args
    return run_cell(by_name(op_name), family)


def report(results: list, stream=sys.stdout) -> int:
    """Print the table (one column per kind of fault), the failures and the totals; return the
    number of failing cells."""
    column_of = {f.family: f.column for f in FAULTS}
    by_cell: dict = {}
    for r in results:
        by_cell.setdefault((r.op, column_of[r.family]), []).append(r)
    width = max(len(op.name) for op in OPERATIONS)
    header = " | ".join([" " * width] + COLUMNS)
    stream.write(header + "\n")
    stream.write("-" * len(header) + "\n")
    for op in OPERATIONS:
        row = [op.name.ljust(width)]
        for col in COLUMNS:
            rs = by_cell.get((op.name, col))
            text = ("-" if not rs else "FAIL" if any(r.failures for r in rs) else
                    "kept" if any(r.kept for r in rs) else "pass")
            row.append(text.center(len(col)))
        stream.write(" | ".join(row) + "\n")
    failing = [r for r in results if r.failures]
    for r in failing:
        stream.write(f"\nFAIL {r.op} x {r.family}: {len(r.failures)} of {r.runs} runs\n")
        for variant, step, reason in r.failures[:5]:
            stream.write(f"  {variant or r.family} at step {step}: {reason}\n")
    runs = sum(r.runs for r in results)
    kept_cells = [r for r in results if r.kept and not r.failures]
    if kept_cells:
        stream.write("\nkept: dfu-util's documented behaviour, kept on purpose (docs/reliability.md):\n")
        for r in kept_cells:
            stream.write(f"  {r.op} x {r.family}: {r.kept} of {r.runs} runs\n")
    ran = {r.family for r in results}
    stream.write("\nfamilies by column (a cell is one operation x one family):\n")
    for col in COLUMNS:
        fams = [f for f in FAMILIES if column_of[f] == col]
        if len(fams) > 1:
            names = ", ".join(f.split(": ", 1)[-1] for f in fams)
            stream.write(f"  {col} ({len(fams)} families, {len([f for f in fams if f in ran])} in this report): "
                         f"{names}\n")
    variants = len(FAULTS)
    device = sum((r.device for r in results), Counter())
    stream.write(f"\ntarget memory afterwards: {device['old']} old contents, {device['new']} new contents, "
                 f"{device['partial']} partial writes (each matching the address or byte count reported)\n")
    stream.write(f"{len(OPERATIONS)} operations x {len(FAMILIES)} fault families in {len(COLUMNS)} kinds "
                 f"({variants} variants): {len(results)} cells, {runs} runs; {len(results) - len(failing)} cells "
                 f"pass, {len(failing)} fail\n")
    return len(failing)


def main(argv=None) -> int:
    import argparse
    import multiprocessing

    parser = argparse.ArgumentParser(prog="fault-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("PYTEST_WORKERS", "2")))
    parser.add_argument("--op", action="append", help="only this operation (repeatable)")
    parser.add_argument("--fault", action="append", help="only this fault family (repeatable)")
    args = parser.parse_args(argv)
    column_of = {f.family: f.column for f in FAULTS}
    jobs = [(o, f) for o, f in cells() if (not args.op or o in args.op)
            and (not args.fault or f in args.fault or column_of[f] in args.fault)]
    # the slowest cells first, so two workers finish together
    jobs.sort(key=lambda c: (c[1] not in ("DFU status", "unplugged", "stall", "timeout", "second device"),))
    if args.jobs > 1:
        with multiprocessing.get_context("spawn" if os.name == "nt" else "fork").Pool(args.jobs) as pool:
            results = pool.map(_cell_job, jobs, chunksize=1)
    else:
        results = [_cell_job(j) for j in jobs]
    return 1 if report(results) else 0


if __name__ == "__main__":
    sys.exit(main())
