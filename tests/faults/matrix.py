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
                code = dfu_main(argv, stdout=out, stderr=err, environ=dict(os.environ))
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
        mark = len(read_log(ctx.sim))
        regions = op.regions(ctx)
        before = read_regions(ctx, regions)
        code, out, err = run_command(ctx, op.argv(ctx))
        after = read_regions(ctx, regions)
        files = {p.name: p.read_bytes() for p in ctx.work.iterdir() if p.is_file()}
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
    return running


# --- judging a run ----------------------------------------------------------------------------

# words of an instruction: the message must tell the user what to do next
_NEXT_STEP = re.compile(r"\b(try|run|check|make sure|press|hold|unplug|plug|reconnect|install|log ?in|"
                        r"to finish|to roll back|again|wait|restart|claim|update|put the device)\b", re.I)


# dfu-util's own documented behaviour, kept on purpose (docs/reliability.md): the run is judged
# by these rules instead of "exit 0 means the new contents".
KEPT = [
    ("dfu-util -D (DFU 1.1)", re.compile(r"unable to read DFU status after completion"),
     "plain DFU: every block was sent and acknowledged, then the device did not answer the final "
     "GETSTATUS; dfu-util 0.11 warns and exits 0 (dfu_load.c); what the device keeps is up to it"),
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
    if o.leftovers:
        return "left behind: " + ", ".join(o.leftovers[:3])
    new = op.new(o.ctx, o)
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
        reached = _reported_progress(o, dfu_util, regions[name][2])
        if reached is None:
            return f"{name} changed to neither old nor new contents and no partial write was reported"
        if data[:reached] != new[name][:reached]:
            return f"{name}: reported {reached} bytes written, but the device holds something else"
    return None


def classify(op: Operation, o: Outcome) -> list:
    """'old' / 'new' / 'partial' for each target region after the run."""
    new = op.new(o.ctx, o)
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
              _user_region, _new_app, _setup_app),
    Operation("dfu-util -D :leave", [PHOTON_DFU],
              lambda c: ["dfu-util", "-d", "2b04:d006", "-a", "0", "-s", f"0x{USER_PART:08x}:leave", "-D",
                         "app.bin"],
              _user_region, _new_app, _setup_app),
    Operation("dfu-util -U", [PHOTON_DFU],
              lambda c: ["dfu-util", "-d", "2b04:d006", "-a", "0", "-s", f"0x{USER_PART:08x}:4096", "-U", "up.bin"],
              _user_region, _unchanged, _setup_app, _upload_success),
    Operation("dfu-util -D app.dfu", [PHOTON_DFU], lambda c: ["dfu-util", "-a", "0", "-D", "app.dfu"],
              _user_region, _new_app, _setup_dfu_file),
    Operation("dfu-util -D (DFU 1.1)", ["dfu11"],
              lambda c: ["dfu-util", "-D", "fw.bin"], _image_region, _plain_new, _setup_plain),
    Operation("dfu-util -e", ["runtime"], lambda c: ["dfu-util", "-e"], _no_region,
              lambda c, o: {}, check_success=_detach_success),
    Operation("flash --usb", [PHOTON_DFU], lambda c: ["particle", "flash", "--usb", "app.bin"],
              _user_region, _new_app, _setup_app),
    Operation("flash --usb (Device OS)", [PHOTON_DFU],
              lambda c: ["particle", "flash", "--usb", "app.bin", "system-part2.bin", "system-part1.bin"],
              _os_regions, _os_new, _setup_os),
    Operation("flash --usb (normal)", [PHOTON_NORMAL], lambda c: ["particle", "flash", "--usb", "app.bin"],
              _user_region, _new_app, _setup_app),
    Operation("update", [PHOTON_DFU], lambda c: ["particle", "update", "--target", "9.0.0", "--from", ".",
                                                 "--no-download"],
              _update_regions, _update_new, _setup_update),
    Operation("keys new", [ARGON_DFU], lambda c: ["particle", "keys", "new"], _key_region, _unchanged,
              _setup_ec_key, _new_key_files),
    Operation("keys load", [PHOTON_DFU], lambda c: ["particle", "keys", "load", "new.der"], _key_region,
              _loaded_key, _setup_key),
    Operation("keys save", [PHOTON_DFU], lambda c: ["particle", "keys", "save", "saved.der"], _key_region,
              _unchanged, _setup_key, _save_success),
    Operation("keys server", [PHOTON_DFU],
              lambda c: ["particle", "keys", "server", "server.pub.pem", "--host", "192.168.1.10", "--port", "5683"],
              _server_region, _server_new, _setup_server),
    Operation("keys address", [PHOTON_DFU], lambda c: ["particle", "keys", "address"], _server_region,
              _unchanged, _setup_server),
    Operation("keys protocol", [ELECTRON_DFU], lambda c: ["particle", "keys", "protocol", "--protocol", "tcp"],
              _transport_region, lambda c, o: {"transport byte": b"\x00"}, _setup_transport),
    Operation("keys doctor", [ARGON_DFU], lambda c: ["particle", "keys", "doctor", ARGON_ID], _key_region,
              _doctor_key, _setup_ec_key, _doctor_success, cloud=True),
    Operation("keys send", [PHOTON_DFU],
              lambda c: ["particle", "keys", "send", PHOTON_ID, "new.pub.pem"], _no_region,
              lambda c, o: {}, lambda c: _write_pub(c), _send_success, cloud=True, usb=False),
    Operation("usb dfu", [ARGON_NORMAL], lambda c: ["particle", "usb", "dfu"], _no_region, lambda c, o: {},
              check_success=_usb_dfu_success),
    Operation("usb reset", [ARGON_NORMAL], lambda c: ["particle", "usb", "reset"], _no_region,
              lambda c, o: {}, check_success=_reset_success),
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

FAMILIES = list(dict.fromkeys(f.family for f in FAULTS))


def applies(op: Operation, fault: Fault) -> bool:
    if fault.needs_cloud:
        return op.cloud
    if not op.usb:
        return False
    return not (fault.dfu_only and op.profiles[0] in (ARGON_NORMAL,) and op.name.startswith("usb"))


def steps_for(op: Operation, fault: Fault, base: Path) -> list[int]:
    if not fault.stepped:
        return [0]
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
                result.device.update(classify(op, o))
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
    """Print the table, the failures and the totals; return the number of failing cells."""
    index = {(r.op, r.family): r for r in results}
    short = {fam: fam for fam in FAMILIES}
    width = max(len(op.name) for op in OPERATIONS)
    header = " | ".join([" " * width] + [short[f] for f in FAMILIES])
    stream.write(header + "\n")
    stream.write("-" * len(header) + "\n")
    for op in OPERATIONS:
        row = [op.name.ljust(width)]
        for fam in FAMILIES:
            r = index.get((op.name, fam))
            text = "-" if r is None else ("FAIL" if r.failures else "kept" if r.kept else "pass")
            row.append(text.center(len(short[fam])))
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
    variants = len(FAULTS)
    device = sum((r.device for r in results), Counter())
    stream.write(f"\ntarget memory afterwards: {device['old']} old contents, {device['new']} new contents, "
                 f"{device['partial']} partial writes (each matching the address or byte count reported)\n")
    stream.write(f"{len(OPERATIONS)} operations x {len(FAMILIES)} faults ({variants} variants): "
                 f"{len(results)} cells, {runs} runs; {len(results) - len(failing)} cells pass, "
                 f"{len(failing)} fail\n")
    return len(failing)


def main(argv=None) -> int:
    import argparse
    import multiprocessing

    parser = argparse.ArgumentParser(prog="fault-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("PYTEST_WORKERS", "2")))
    parser.add_argument("--op", action="append", help="only this operation (repeatable)")
    parser.add_argument("--fault", action="append", help="only this fault family (repeatable)")
    args = parser.parse_args(argv)
    jobs = [(o, f) for o, f in cells() if (not args.op or o in args.op) and (not args.fault or f in args.fault)]
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
