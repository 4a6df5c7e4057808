"""`particle flash --usb`: check every module, order them, write them, prove they are there.

Nothing is written until every file has passed every check. Each write goes through
``ParticleDfuDevice.write`` (smart flashing: unchanged pages are skipped, blank pages are not
erased). Progress and messages go to a reporter (``particle_py.events``); the front end prints.

How a write is proven: a system or user part carries its own CRC, and Device OS checks it when
it boots and reports the result in its module info (control request 90). So such a module is
not read back over USB: its CRC word is read (4 bytes), the device is reset (which a user part
flash ends with anyway; after system parts alone the device is put back in DFU mode
afterwards) and its module info must list the module, same function, index, version and size
(and SHA-256 where Device OS reports one), with its integrity check passed. Where Device OS
cannot tell (too old, not coming back, a module it does not list) the bytes are read back over
DFU instead; everything else (the DCT, staged bootloaders, headerless apps, ``--verify``) is
read back right after its write.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from particle_py import events
from particle_py.errors import Interrupted, ParticlePyError, deferred_interrupts
from particle_py.firmware.module import FirmwareModule, ModuleFunction, parse
from particle_py.platforms import Platform, by_id

EX_FLASH_FAILED = 1

# Functions that go to the device over DFU. Bootloaders, NCP firmware and assets are updated
# by Device OS itself: a bootloader is staged over DFU in the platform's OTA region with the
# 0xA5 flag in the DCT (as particle-cli 1.x/2.x did), and Device OS applies it at the next boot.
# NCP firmware and assets need Device OS's normal-mode update requests (not in particle-py yet).
DFU_FLASHABLE = frozenset({ModuleFunction.MONO_FIRMWARE, ModuleFunction.SYSTEM_PART,
                           ModuleFunction.USER_PART, ModuleFunction.RADIO_STACK})
STAGED = frozenset({ModuleFunction.BOOTLOADER})
OTA_FLAG_LABEL = "ota-flag-a5"

# The wipe of an old app location (Platform.former_user_part) shows under particle-cli's name.
INVALIDATE_LABEL = "invalidate-128k-user-part"

# Verify by default up to this size (everything Particle ships is smaller).
VERIFY_BY_DEFAULT_MAX = 4 * 1024 * 1024
# Modules Device OS lists in its module info with its own CRC check (the radio stack is
# described from the SoftDevice's info block, without a CRC; a bootloader is staged).
CHECKED_BY_DEVICE_OS = frozenset({ModuleFunction.SYSTEM_PART, ModuleFunction.USER_PART})
# How long Device OS may take to boot and answer after the reset (on hardware: seconds).
BOOT_TIMEOUT_MS = 30_000
BOOT_POLL_MS = 100
# The module info's failed checks that say the bytes are not the module's (a dependency
# failure is the device's state, not the write's: an app for a newer Device OS is written
# intact and runs in safe mode, as before).
WRITE_CHECKS = ("INTEGRITY_CHECK_FAILED", "RANGE_CHECK_FAILED", "PLATFORM_CHECK_FAILED")


@dataclass
class FlashSource:
    """One file to flash: a path the user gave, or a known app fetched for the device."""
    label: str                       # what the messages call it (file name as given)
    data: bytes
    known_app: Optional[object] = None

    @property
    def basename(self) -> str:
        return os.path.basename(self.label)


@dataclass
class FlashStep:
    source: FlashSource
    module: Optional[FirmwareModule]
    alt: int
    address: int
    data: bytes
    keep_rest: bool = False          # an erased page's other bytes must survive (the DCT)
    staged: bool = False             # applied by Device OS at the next boot, not where it is written

    @property
    def function(self) -> Optional[int]:
        return self.module.prefix.function if self.module and self.module.prefix else None


@dataclass
class FlashResult:
    steps: list[FlashStep]
    written: list[FlashStep] = field(default_factory=list)
    bytes_skipped: int = 0
    left_dfu: bool = False
    cannot_run: list[str] = field(default_factory=list)   # after --force: what the device will do instead
    platform_name: str = ""
    verified_by: dict = field(default_factory=dict)        # file name -> "module info" / "read-back" / ...
    unproven: list = field(default_factory=list)           # written, Device OS to check them after the reset
    # Written as asked, but the device will not run it as the user meant (firmware.checks): the
    # lines that say what it does instead and how to get it running; empty: it runs.
    will_not_run: list = field(default_factory=list)


def _phrase(function: int) -> str:
    from particle_py.firmware.module import FUNCTION_PHRASES

    return FUNCTION_PHRASES[function] if 0 <= function < len(FUNCTION_PHRASES) else "an unknown module"


def _fail(message: str, hint: Optional[str] = None) -> ParticlePyError:
    return ParticlePyError(message, hint or "Nothing was written to the device.", EX_FLASH_FAILED)


# --- reading what the user named ----------------------------------------------------------

def read_local_files(args: list[str]) -> list[tuple[str, Optional[bytes]]]:
    """(arg, bytes) for files; (arg, None) for known-app names resolved once the device is known.
    Raises for missing files, directories and zips before any device is touched."""
    from particle_py.firmware.known_apps import APP_NAMES

    if not args:
        raise ParticlePyError("You must specify a device or a file", exit_code=1)
    out: list[tuple[str, Optional[bytes]]] = []
    for arg in args:
        if os.path.isdir(arg):
            raise _fail(f"You cannot flash a directory over USB: {arg}",
                        "Nothing was written to the device. Give the path of a .bin file.")
        if os.path.exists(arg):
            if arg.lower().endswith(".zip"):
                raise _fail("Use 'particle flash --local' to flash a zipped bundle.",
                            "particle-py flashes .bin modules; unzip the bundle and give its .bin files.")
            from particle_py.firmware.classify import largest_firmware, read_input_file

            try:
                out.append((arg, read_input_file(arg, largest_firmware(), "firmware file")))
            except ParticlePyError as err:
                raise _fail(err.message, f"Nothing was written. {err.hint}") from None
        elif arg in APP_NAMES:
            out.append((arg, None))
        else:
            raise _fail(f"{arg} doesn't exist",
                        "Give the path of a .bin file, or a known app name: " + ", ".join(sorted(APP_NAMES)) + ".")
    return out


def _wanted_platform(items) -> Optional[int]:
    """The platform all given files were built for (None if mixed, unknown or app names)."""
    ids = set()
    for _arg, data in items:
        module = parse(data) if data else None
        if module is None or module.prefix is None:
            return None
        ids.add(module.prefix.platform_id)
    return ids.pop() if len(ids) == 1 else None


def resolve_sources(items: list[tuple[str, Optional[bytes]]], platform: Platform) -> list[FlashSource]:
    from particle_py.firmware import known_apps

    sources = []
    for arg, data in items:
        if data is not None:
            sources.append(FlashSource(arg, data))
            continue
        app = known_apps.find(platform.name, arg)
        if app is None:
            raise _fail(f"There is no known app {arg} for {platform.display_name}",
                        "Known apps: " + ", ".join(sorted(a.name for a in known_apps.KNOWN_APPS
                                                          if a.platform == platform.name)) + ".")
        sources.append(FlashSource(app.filename, known_apps.fetch(app), known_app=app))
    return sources


# --- checks and the plan ------------------------------------------------------------------

def _memory_map(platform: Platform, alt: int):
    from particle_py.ops.memory import MemoryMap

    if alt >= len(platform.dfu_layouts):
        return None
    return MemoryMap.from_layout_string(platform.dfu_layouts[alt])


def _user_window(platform: Platform, region) -> tuple[int, int]:
    return region.window


def _check_module(src: FlashSource, platform: Platform, *, force: bool) -> FirmwareModule:
    name = src.label
    if not src.data:
        raise _fail(f"{name} is empty", "Nothing was written. Check that the file is a complete firmware binary.")
    module = parse(src.data)
    if module.prefix is None:
        if module.truncated_prefix is not None:
            raise _fail(f"{name} is truncated: its module header says {module.truncated_prefix.size} bytes, "
                        f"the file has {len(src.data)}",
                        "Nothing was written. Download or build the file again.")
        from particle_py.firmware.classify import classify

        kind = classify(src.data)
        if kind.kind in ("private-key", "public-key"):
            raise _fail(f"Could not parse {name}: it has no Particle module header",
                        f"Nothing was written. It is {kind}: keys go to the device with `particle keys load`.")
        raise _fail(f"Could not parse {name}: it has no Particle module header",
                    f"Nothing was written. Check the file with `particle binary inspect {name}`.")
    prefix = module.prefix
    if not module.crc_ok and not force:
        raise _fail(f"CRC check failed for module {name}",
                    "The file is damaged; nothing was written. Download or build it again "
                    "(--force flashes it anyway).")
    if prefix.platform_id != platform.platform_id and not force:
        built_for = by_id(prefix.platform_id)
        raise _fail(f"Module {name} is not compatible with platform {platform.name}",
                    f"It was built for {built_for.name if built_for else 'platform id %d' % prefix.platform_id}; "
                    f"nothing was written. Use the binary built for this device (--force writes it anyway, "
                    f"but the {platform.display_name} cannot run it).")
    if prefix.function in STAGED and platform.ota_region is not None:
        # --force cannot help here: Device OS checks a staged module and discards a damaged or
        # foreign one, so staging it would only report a flash that never happens.
        if not module.crc_ok or prefix.platform_id != platform.platform_id:
            why = "fails its CRC check" if not module.crc_ok else "is not for this platform"
            raise _fail(f"Bootloader {name} {why}",
                        f"Nothing was written. Device OS applies only an intact bootloader built for the "
                        f"{platform.display_name}, so it is not staged even with --force.")
        return module
    if prefix.function not in DFU_FLASHABLE:
        raise _fail(f"Module {name} is {_phrase(prefix.function)}: firmware module of this type cannot "
                    "be flashed via DFU",
                    f"Nothing was written. Device OS installs this kind of module itself, from normal "
                    f"mode; particle-py cannot send it to a {platform.display_name} yet (particle-cli "
                    "3.14+ `particle flash --usb` or a cloud flash can).")
    return module


def _headerless_image(src: FlashSource, platform: Platform) -> bool:
    if not src.data:
        return False
    if src.known_app is None and not platform.headerless_app:
        return False
    module = parse(src.data)
    return module.prefix is None and module.truncated_prefix is None


def _destination(src: FlashSource, module: Optional[FirmwareModule], platform: Platform, *,
                 factory: bool) -> tuple[int, int, bytes]:
    if module is None:            # a known app without a module header (Core tinker)
        region = platform.factory_reset if factory else platform.user_part
        return region.alt, region.address, src.data
    prefix = module.prefix
    if factory:
        if prefix.function != ModuleFunction.USER_PART:
            raise _fail("Factory reset is only supported for user part",
                        f"{src.label} is {_phrase(prefix.function)}; nothing was written.")
        if platform.factory_reset is None:
            raise _fail("Factory reset is not supported for this platform",
                        f"{platform.display_name} has no factory reset slot; nothing was written.")
        return platform.factory_reset.alt, platform.factory_reset.address, module.payload()
    if prefix.function in STAGED:
        return platform.ota_region.alt, platform.ota_region.address, src.data
    return 0, prefix.start, module.payload()


def staged_flag_step(platform: Platform) -> FlashStep:
    """The DCT byte that makes Device OS apply the staged module at its next boot (the rest of
    the DCT, keys included, is kept)."""
    from particle_py.platforms import OTA_FLAG_APPLY, OTA_FLAG_SLOT

    flag = bytes([OTA_FLAG_APPLY])
    return FlashStep(FlashSource(OTA_FLAG_LABEL, flag), None, OTA_FLAG_SLOT.alt, OTA_FLAG_SLOT.address, flag,
                     keep_rest=True)


def _check_destination(step: FlashStep, platform: Platform, *, factory: bool, memory_map=None) -> FlashStep:
    name = step.source.label
    mm = memory_map(step.alt) if memory_map else _memory_map(platform, step.alt)
    if mm is None:
        raise _fail(f"{platform.display_name} has no DFU memory area {step.alt} for {name}")
    address = step.address
    if not mm.contains(address) and mm.base and mm.contains(mm.base + address):
        # Region tables give external-flash offsets; the DFU alt maps that flash at its base.
        address += mm.base
    end = address + len(step.data)
    if not step.data:
        raise _fail(f"{name} has nothing to write")
    if not mm.contains(address) or not mm.page_at(address).writable:
        raise _fail(f"{name} starts at 0x{address:08x}, which is not in a writable part of the "
                    f"{platform.display_name} flash ({mm.name.strip()})",
                    "Nothing was written. Check that the file is meant for this device.")
    gap = mm.first_gap(address, end, "writable")
    if gap is not None:
        raise _fail(f"{name} does not fit: 0x{address:08x}-0x{end:08x} runs into 0x{gap:08x}, "
                    f"which is not writable on {platform.display_name}",
                    "Nothing was written. The file is larger than the space it is meant for.")
    region = (platform.factory_reset if factory else platform.user_part)
    if step.function == ModuleFunction.SYSTEM_PART and platform.system_parts:
        # Device OS looks for system part N in its own slot only: one linked elsewhere (at the
        # app's address, say) would be written over what is there and never run as Device OS.
        index = step.module.prefix.index
        slot = platform.system_parts[index - 1] if 1 <= index <= len(platform.system_parts) else None
        if address != slot:
            where = (f"system part {index} belongs at 0x{slot:08x}" if slot is not None else
                     f"the {platform.display_name} has no system part {index}")
            raise _fail(f"{name} is a system part linked at 0x{address:08x}, but {where}",
                        "Nothing was written (not even with --force: the module would overwrite what is "
                        "there and never run). Use the system part built for this device.")
    if step.function in STAGED:
        if len(step.data) > (platform.ota_region.max_size or len(step.data)):
            raise _fail(f"{name} is larger than the {platform.display_name} OTA region",
                        "Nothing was written. Check that the file is a bootloader for this device.")
        step.address, step.staged = address, True
        return step
    if step.function == ModuleFunction.USER_PART or step.module is None:
        if region is not None and region.max_size is not None:
            if len(step.data) > region.max_size:
                raise _fail(f"{name} is {len(step.data)} bytes, more than the {region.max_size} bytes "
                            f"a {'factory' if factory else 'user'} app may have on {platform.display_name}",
                            "Nothing was written. Reduce the size of the application.")
            if not factory:
                lo, hi = _user_window(platform, region)
                if address < lo or end > hi:
                    raise _fail(f"{name} (0x{address:08x}-0x{end:08x}) is outside the user part "
                                f"0x{lo:08x}-0x{hi:08x} of {platform.display_name}",
                                "Nothing was written. Check that the file is meant for this device.")
    step.address = address
    return step


def _dependency_order(steps: list[FlashStep]) -> list[FlashStep]:
    """Dependencies first (system part 1 before 2 before the app); otherwise the given order."""
    def key(step):
        p = step.module.prefix if step.module else None
        return (p.function, p.index) if p else None

    provided = {key(s): s for s in steps if key(s)}
    ordered: list[FlashStep] = []
    visiting: set[int] = set()

    def visit(step):
        if step in ordered or id(step) in visiting:
            return
        visiting.add(id(step))
        if step.module is not None:
            for dep in step.module.prefix.dependencies:
                other = provided.get((dep.function, dep.index))
                if other is not None and other is not step:
                    visit(other)
        ordered.append(step)

    for s in steps:
        visit(s)
    return ordered


def plan(sources: list[FlashSource], platform: Platform, *, factory: bool = False,
         force: bool = False, memory_map=None) -> list[FlashStep]:
    """Every check for every file, then the write order. Raises before anything is written.
    ``memory_map(alt)`` gives the device's own map (default: the platform table's)."""
    from particle_py.firmware import restore_rules

    steps = []
    left_out = []
    for src in sources:
        prefix = parse(src.data).prefix if src.data else None
        why = prefix and prefix.platform_id == platform.platform_id and \
            restore_rules.never_written(platform, prefix.function, prefix.index)
        if why:                     # left out of the write, as particle-cli's filterModulesToFlash does
            left_out.append((src.label, why))
            continue
        module = None if _headerless_image(src, platform) else _check_module(src, platform, force=force)
        alt, address, data = _destination(src, module, platform, factory=factory)
        steps.append(_check_destination(FlashStep(src, module, alt, address, data), platform,
                                        factory=factory, memory_map=memory_map))
    # A staged module goes first, then its flag, as particle-cli 2.x did: on Gen2 the DFU
    # routines move once new system parts are written. One staged module at a time: the OTA
    # region holds one.
    if left_out and not steps:
        raise _fail(f"{left_out[0][0]} is not written: {left_out[0][1]}.", "Nothing was written.")
    staged = [s for s in steps if s.staged]
    if len(staged) > 1:
        raise _fail(f"{staged[0].source.label} and {staged[1].source.label} are both bootloaders",
                    "Nothing was written. Give one bootloader.")
    ordered = staged + ([staged_flag_step(platform)] if staged else []) + \
        _dependency_order([s for s in steps if not s.staged])
    if not factory:
        ordered = _invalidate_former_user_part(ordered, platform, memory_map)
    # Two files for the same flash would leave only the second; refuse rather than guess.
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if a.alt == b.alt and a.address < b.address + len(b.data) and b.address < a.address + len(a.data):
                raise _fail(f"{a.source.label} and {b.source.label} overlap in flash",
                            "Nothing was written. Give each module once.")
    return ordered


def _invalidate_former_user_part(steps: list[FlashStep], platform: Platform, memory_map) -> list[FlashStep]:
    former = platform.former_user_part
    if former is None:
        return steps
    address, size, min_version = former.address, former.size, former.min_system_version
    for i, step in enumerate(steps):
        if step.function != ModuleFunction.USER_PART or step.alt != 0:
            continue
        needs_new_layout = any(d.function == ModuleFunction.SYSTEM_PART and d.version >= min_version
                               for d in step.module.prefix.dependencies)
        if needs_new_layout and step.address < address and step.address + len(step.data) <= address:
            wipe = FlashStep(FlashSource(INVALIDATE_LABEL, b"\xff" * size), None, 0, address, b"\xff" * size)
            wipe = _check_destination(wipe, platform, factory=False, memory_map=memory_map)
            return steps[:i] + [wipe] + steps[i:]
    return steps


# --- doing it ---------------------------------------------------------------------------------

def resume_command(args: list[str], *, factory: bool, force: bool, verify: Optional[bool] = None) -> str:
    import shlex

    parts = ["particle", "flash", "--usb", *args]
    if factory:
        parts.append("--factory")
    if force:
        parts.append("--force")
    if verify is not None:
        parts.append("--verify" if verify else "--no-verify")
    return " ".join(shlex.quote(p) for p in parts)


def flash_usb(args: list[str], *, factory: bool = False, force: bool = False,
              verify: Optional[bool] = None, device_id: Optional[str] = None,
              reporter: events.Reporter = events.QUIET) -> FlashResult:
    """_flash_usb, with Service Mode running out mid-way reported as the state it leaves."""
    from particle_py.ops import protection

    seen: dict = {}
    try:
        return _flash_usb(args, factory=factory, force=force, verify=verify, device_id=device_id,
                          reporter=reporter, seen=seen)
    except ParticlePyError as err:
        if "protection" not in seen:
            raise
        ended = protection.ended_mid_way(seen["protection"], seen["device_id"], None, seen["again"])
        if ended is None:
            raise
        raise ended from None


def _flash_usb(args: list[str], *, factory: bool = False, force: bool = False,
               verify: Optional[bool] = None, device_id: Optional[str] = None,
               reporter: events.Reporter = events.QUIET, seen: dict) -> FlashResult:
    """Flash ``args`` (files or known-app names) to the connected device over DFU.

    ``reporter`` gets the user-facing lines as Steps (``Flashing <platform> device <id>``,
    ``Flashing <file>``), each step's write as Progress (task: the file's name, from 0 when the
    step starts) and the -v lines as Details.
    ``verify`` None: each module proven by Device OS's own check after the reset where it can
    be, else read back; True: everything read back; False: nothing checked.
    """
    from particle_py.ops.device import open_entry
    from particle_py.ops.discovery import release_entry, resolve_target

    emit = reporter.step
    items = read_local_files(args)
    given = ([device_id] if device_id else []) + list(args)
    # The target and every file are certain before the device changes mode: the checks run
    # against the platform's table first, then again against the device's own memory map.
    # Known-app names are downloaded here too, while the device still runs its own firmware.
    entry = resolve_target(device_id, need_dfu=True, platform_id=_wanted_platform(items))
    info_before = None
    try:
        from particle_py.ops import protection

        # protection refuses the write: said before anything is downloaded or changes mode
        again = resume_command(given, factory=factory, force=force, verify=verify)
        seen.update(protection=protection.check(entry, again=again), device_id=entry.device_id, again=again)
        sources = resolve_sources(items, entry.platform)
        plan(sources, entry.platform, factory=factory, force=force)
        if not entry.in_dfu and verify is None and not factory:
            from particle_py.control import ControlSession, module_info

            # What Device OS holds, from its own check: an intact module with the file's
            # identity needs no compare read, a different one needs no compare before its erase.
            info_before = module_info.read(ControlSession(entry.usb_device))
    except BaseException:
        release_entry(entry)
        raise
    try:
        device = open_entry(entry, need_dfu=True, reporter=reporter)
    except Interrupted as sig:
        raise _stopped_before_writing(sig, given, factory=factory, force=force, verify=verify) from None
    result = None
    by_device_os: list[FlashStep] = []          # written, to be proven by Device OS after the reset
    try:
        steps = plan(sources, device.platform, factory=factory, force=force, memory_map=device.memory_map)
        result = FlashResult(steps, cannot_run=forced_outcomes(steps, device.platform) if force else [],
                             platform_name=device.platform.display_name, unproven=by_device_os)
        # particle-cli prints whatever serial the bootloader shows; a serial that is not the id
        # (the 2015 Photon's 00000000010c, the Core's) is not printed as one
        shown = device.device_id if device.entry.id_known else "(its DFU bootloader does not show the id)"
        emit(f"Flashing {device.platform.name} device {shown}")
        try:
            prefixes = Prefixes(device)
            proof_after_boot = verify is None and not factory and (
                info_before is not None or device_os_in_flash(device, steps, prefixes))
            judged = None if factory else judge_write(prefixes, steps, info_before)
        except (ParticlePyError, Interrupted) as err:
            err.nothing_written = True      # only read so far: the flash is as it was
            raise _interrupted(err, steps[0] if steps else None, result, given, factory=factory, force=force,
                               verify=verify) from None
        if judged is not None:
            refusal, notes = judged
            if refusal is not None and not force:
                if not entry.in_dfu:
                    # switched to DFU for this flash: let it run what it held, as before
                    with deferred_interrupts(drop=True):
                        try:
                            device.reset(leave=True)
                        except (ParticlePyError, Interrupted):
                            pass
                raise refusal
            if refusal is not None:
                result.cannot_run.append(f"{refusal.message}: it stays in DFU mode (blinking yellow). To get it "
                                         f"running: {refusal.fix}")
            else:
                result.will_not_run = notes
        for step in steps:
            emit(f"Flashing {step.source.basename}")
            do_verify = verify if verify is not None else len(step.data) <= VERIFY_BY_DEFAULT_MAX
            checked = proof_after_boot and do_verify and checked_by_device_os(step, device.platform)
            progress = step_progress(reporter, step.source.basename, len(step.data))
            try:
                known = _known_from_info(info_before, step) if checked else None
                if known == "present" and _crc_word(device, step) != step.data[-4:]:
                    known = "other"         # intact, same version, another build (its own CRC)
                if known == "present":
                    # Device OS found this module intact, and its CRC is the file's: it is the file.
                    stats = None
                    result.bytes_skipped += len(step.data)
                    result.verified_by[step.source.basename] = "module info (before)"
                    progress(len(step.data), len(step.data))
                else:
                    erase = True if known == "other" and _all_erasable(device, step) else None
                    stats = device.write(step.alt, step.address, step.data, erase=erase,
                                         verify=do_verify and not checked, progress=progress,
                                         preserve=step.keep_rest or _shares_a_page(step, steps, device),
                                         skim=checked)
                    if checked:
                        _check_crc_word(device, step)
                        by_device_os.append(step)
                    elif stats.verified:
                        result.verified_by[step.source.basename] = "read-back"
            except (ParticlePyError, Interrupted) as err:
                raise _interrupted(err, step, result, given, factory=factory, force=force, verify=verify) from None
            result.bytes_skipped += getattr(stats, "bytes_skipped", 0) if stats else 0
            result.written.append(step)
        # Leave DFU so the new app runs: what particle-cli does after a user part. A Gen2
        # device that vanishes or answers dfuDNLOAD-IDLE here is normal. A staged bootloader is
        # applied by Device OS when it next boots: leave for that too. Modules still to be
        # proven need the boot as well: Device OS checks them as it starts.
        resets_anyway = not factory and any(s.function in (ModuleFunction.USER_PART, None) or s.staged
                                            for s in steps)
        if resets_anyway or by_device_os:
            try:
                device.reset(leave=True)
            except Interrupted as sig:
                raise _after_writing(sig, result, given, factory=factory, force=force, verify=verify,
                                     checked=not by_device_os) from None
            result.left_dfu = True
        if by_device_os:
            device.close()
            try:
                _prove_after_boot(device, by_device_os, result, back_to_dfu=not resets_anyway, reporter=reporter)
            except (ParticlePyError, Interrupted) as err:
                if getattr(err, "state_reported", False):
                    raise
                raise _after_writing(err, result, given, factory=factory, force=force, verify=verify,
                                     checked=False) from None
            result.left_dfu = resets_anyway
        return result
    except Interrupted as sig:          # between steps, or while planning: nothing half-written
        if result is None or not result.written:
            raise _stopped_before_writing(sig, given, factory=factory, force=force, verify=verify) from None
        raise _interrupted(sig, None, result, given, factory=factory, force=force, verify=verify) from None
    finally:
        with deferred_interrupts(drop=True):    # a signal while closing up changes no outcome
            device.close()


# --- what the device runs afterwards (firmware.checks) ---------------------------------------

class Prefixes:
    """Module prefixes read over DFU once per flash: whether a Device OS will check the writes
    and what the boot checks need share the same few bytes per module."""

    def __init__(self, device):
        self.device = device
        self._raw: dict[int, bytes] = {}

    def raw(self, address: int) -> bytes:
        from particle_py.module_layout import PREFIX_SIZE

        if address not in self._raw:
            self._raw[address] = self.device.read(0, address, PREFIX_SIZE)
        return self._raw[address]


def _prefix_at(prefixes: Prefixes, address: int):
    """The module prefix in flash at ``address`` for this platform, or None (the CRC is Device
    OS's to check)."""
    from particle_py import module_layout as layout

    platform = prefixes.device.platform
    for offset in dict.fromkeys((platform.module_info_offset, 0)):    # Electron part 1: at 0
        prefix = layout.unpack_prefix(prefixes.raw(address + offset))
        if prefix is not None and prefix.plausible_at(address) and prefix.platform_id == platform.platform_id:
            return prefix
    return None


# The nRF52 SoftDevice describes itself at its base + 0x2000 (magic at +4, firmware id at +0xC);
# Device OS takes that id as the radio stack's version (as sim/boot.py models it).
SD_INFO_OFFSET, SD_MAGIC = 0x2000, 0x51B1E5DB


def held_modules(prefixes: Prefixes, written: list, app_wanted: bool) -> tuple[list, frozenset]:
    """The modules the device holds that Device OS's boot checks look at, and the functions
    besides system and user parts that could be read (firmware.checks.outcome's ``modelled``).
    A bootloader or radio stack is read only when a system part depends on one."""
    import struct

    from particle_py.firmware.checks import Held

    device = prefixes.device
    platform = device.platform
    held, modelled = [], set()

    def add(prefix, function):
        if prefix is not None and prefix.function == function:
            held.append(Held(prefix.function, prefix.index, prefix.version, prefix.dependencies))

    for address in platform.system_parts:
        add(_prefix_at(prefixes, address), ModuleFunction.SYSTEM_PART)
    needed = {d[0] for m in held + list(written) if m.function == ModuleFunction.SYSTEM_PART for d in m.deps}
    # The rest is looked at only to say more: a device that will not show it over DFU leaves it
    # unjudged (a dependency on it counts as met) rather than failing the flash.
    if platform.bootloader is not None and ModuleFunction.BOOTLOADER in needed:
        try:
            add(_prefix_at(prefixes, platform.bootloader), ModuleFunction.BOOTLOADER)
            modelled.add(ModuleFunction.BOOTLOADER)
        except ParticlePyError:
            pass
    if platform.radio_stack is not None and ModuleFunction.RADIO_STACK in needed:
        try:
            info = device.read(0, platform.radio_stack + SD_INFO_OFFSET, 16)
        except ParticlePyError:
            info = None
        if info is not None:
            modelled.add(ModuleFunction.RADIO_STACK)
            if len(info) == 16 and struct.unpack_from("<I", info, 4)[0] == SD_MAGIC:
                held.append(Held(ModuleFunction.RADIO_STACK, 0, struct.unpack_from("<H", info, 12)[0]))
    if app_wanted and platform.user_part is not None:
        try:
            _add_held_app(prefixes, held, add)
        except ParticlePyError:
            pass
    return held, frozenset(modelled)


def _add_held_app(prefixes: Prefixes, held: list, add) -> None:
    """The app the Device OS in flash would run (the first slot it tries that holds one)."""
    from particle_py.module_layout import user_part_start
    from particle_py.platforms import user_slots

    device = prefixes.device
    part1 = next((m for m in held if m.key == (ModuleFunction.SYSTEM_PART, 1)), None)
    for region in user_slots(device.platform, part1.version if part1 else None).tried:
        start, code, _why = user_part_start(lambda alt, a, n: device.read(alt, a, n), region)
        prefix = _prefix_at(prefixes, start) if code == "ok" else None
        if prefix is not None and prefix.function == ModuleFunction.USER_PART:
            add(prefix, ModuleFunction.USER_PART)
            break


def held_from_info(info) -> tuple[list, frozenset]:
    """held_modules from Device OS's module info (read before the switch to DFU mode): its
    modules that pass their integrity check, with their dependencies."""
    from particle_py.firmware.checks import Held

    held = [Held.of(m) for m in info if m.store == "main" and "INTEGRITY_CHECK_FAILED" not in m.validity_errors
            and m.function in (ModuleFunction.SYSTEM_PART, ModuleFunction.USER_PART, ModuleFunction.BOOTLOADER,
                               ModuleFunction.RADIO_STACK)]
    return held, frozenset(m.function for m in held if m.function in (ModuleFunction.BOOTLOADER,
                                                                        ModuleFunction.RADIO_STACK))


def judge_write(prefixes: Prefixes, steps: list[FlashStep], info=None) -> Optional[tuple[Optional[ParticlePyError], list[str]]]:
    """What Device OS will do once ``steps`` are written: (the refusal of a write that leaves no
    Device OS that starts, where one started before; or None and the lines that say the device
    will not run the result as meant: safe mode, or still no Device OS). None: not judged (a
    platform without system parts)."""
    from particle_py.firmware import checks
    from particle_py.firmware.releases import latest_pinned

    platform = prefixes.device.platform
    if not platform.system_parts:
        return None
    written, gone = [], set()
    for step in steps:
        module = step.module
        if module is None or module.prefix is None or step.function is None:
            continue
        p = module.prefix
        if p.function == ModuleFunction.USER_PART and step.address != p.start:
            continue
        key = (p.function, p.index)
        if module.crc_ok and p.platform_id == platform.platform_id:
            written.append(checks.Held.of(p, step.source.basename))
        else:
            gone.add(key)           # forced: Device OS finds no valid module there (forced_outcomes says so)
    if not written and not gone:
        return None
    app_written = any(m.function == ModuleFunction.USER_PART for m in written)
    if info is not None:
        held, modelled = held_from_info(info)
    else:
        system_written = any(m.function == ModuleFunction.SYSTEM_PART for m in written)
        held, modelled = held_modules(prefixes, written, app_wanted=system_written and not app_written)
    count = len(platform.system_parts)
    before = checks.outcome(held, count, modelled=modelled)
    after_modules = [m for m in checks.after_write(held, written) if m.key not in gone]
    after = checks.outcome(after_modules, count, modelled=modelled)
    name = platform.display_name
    if after.mode == "normal" or not before.runs or (after.mode == "safe" and after.unmet is None):
        # A board that did not start Device OS before (a blank one being filled part by part) is
        # not stopped by the write: the result is judged only where there was one.
        return None, []
    if after.mode == "dfu":
        why = (f"system part {', '.join(map(str, after.missing))} would be missing" if after.missing
               else after.unmet.words())
        if before.runs and not gone:
            release = _release_for(platform.name, written) or latest_pinned(platform.name)
            names = ", ".join(m.name for m in written)
            fix = f"particle update --target {release}" if release else "particle update"
            refusal = ParticlePyError(
                f"After writing {names} the {name} would not start Device OS: {why}",
                "Nothing was written; the device would stay in DFU mode (blinking yellow). Flash every part of "
                f"one Device OS release together, or install a whole release with:\n  {fix}\n"
                "(--force writes it anyway.)", EX_FLASH_FAILED)
            refusal.fix = fix
            return refusal, []
        # Forced past a CRC or platform check (forced_outcomes says it all), or a board that had
        # no Device OS that starts before either (a blank one being filled part by part).
        return None, []
    unmet = after.unmet
    from particle_py.firmware import restore_rules

    release = checks.release_providing(platform.name, unmet.function, unmet.index, unmet.version) or (
        restore_rules.device_os_for(unmet.version) if unmet.function == ModuleFunction.SYSTEM_PART else None)
    fix = (f"particle update --target {release}" if release else
           f"particle update --target <a Device OS whose {checks.KIND_NAMES.get(unmet.function, 'module')} "
           f"is version {unmet.version} or newer>")
    return None, [f"Flash done, but the {name} will run in safe mode (breathing magenta) until Device OS is "
                  f"updated: {unmet.words()}.",
                  f"Update Device OS with: {fix}"]


def _release_for(platform_name: str, written) -> Optional[str]:
    from particle_py.firmware import checks

    for module in written:
        if module.function == ModuleFunction.SYSTEM_PART:
            found = checks.release_of(platform_name, module)
            if found:
                return found
    return None


# --- proving a module by Device OS's own check --------------------------------------------------

def checked_by_device_os(step: FlashStep, platform: Platform) -> bool:
    """Whether Device OS lists this module, at this address, with its own CRC check: a system
    part or a user part, intact and for this platform, written whole at its own address into a
    slot Device OS reads (platform table)."""
    module = step.module
    if module is None or module.prefix is None or step.staged or step.alt != 0 or step.keep_rest:
        return False
    p = module.prefix
    if p.function not in CHECKED_BY_DEVICE_OS or not module.crc_ok or p.platform_id != platform.platform_id:
        return False
    if step.data != step.source.data or step.address != p.start or not platform.system_parts:
        return False
    if p.function == ModuleFunction.SYSTEM_PART:
        return 1 <= p.index <= len(platform.system_parts) and platform.system_parts[p.index - 1] == p.start
    user = platform.user_part
    if user is None:
        return False
    # a part that grows down (rtl872x) is found by its end: the module's last byte is the part's
    return p.end + 4 == user.address if user.grows_left else user.address == p.start


def device_os_in_flash(device, steps: list[FlashStep], prefixes: Optional[Prefixes] = None) -> bool:
    """Whether a Device OS will be there to check the modules after the reset: every system part
    slot of the platform holds a module prefix for it, either in a step about to be written or
    in flash now (a prefix read over DFU: a few bytes per part; its CRC is Device OS's to check).
    A device in DFU mode with no Device OS (a blank or half-erased board) boots back into DFU
    mode, so its writes are read back before leaving instead of waiting for a check that cannot
    come."""
    from particle_py import module_layout as layout

    platform = device.platform
    if not platform.system_parts:
        return False
    written = {s.address: s.data for s in steps if s.alt == 0 and s.module is not None}
    for address in platform.system_parts:
        found = False
        for offset in dict.fromkeys((platform.module_info_offset, 0)):    # Electron part 1: at 0
            head = layout.unpack_head(written.get(address, b""), offset)
            if head is None:
                head = layout.unpack_head(prefixes.raw(address + offset) if prefixes else
                                          device.read(0, address + offset, layout.HEAD_SIZE))
            if head.start == address and head.end > head.start and head.platform_id == platform.platform_id:
                found = True
                break
        if not found:
            return False
    return True


def _listed(info, step: FlashStep):
    """The module info entry with the step's function, index and version, if any."""
    p = step.module.prefix
    for m in info or ():
        if (m.function, m.index, m.version) == (p.function, p.index, p.version):
            return m
    return None


def _why_unproven(m, step: FlashStep) -> Optional[str]:
    """None when Device OS's entry proves the step's bytes, else why it does not."""
    p = step.module.prefix
    if m is None:
        return f"Device OS does not list {_kind(step)} version {p.version}"
    failed = [e for e in m.validity_errors if e in WRITE_CHECKS]
    if failed:
        return "Device OS reports " + ", ".join(failed)
    # Device OS < 5.6 counts the size without the CRC word, 5.6+ with it.
    expected = len(step.data) if m.max_size is not None else len(step.data) - 4
    if m.size and m.size != expected:
        return f"Device OS reports {m.size} bytes, the file has {expected}"
    file_sha = step.module.suffix.sha256.hex() if step.module.suffix is not None else None
    if m.hash and file_sha and m.hash != file_sha:
        return "Device OS reports another SHA-256"
    return None


def _known_from_info(info, step: FlashStep) -> Optional[str]:
    """From module info read before the write: 'present' (an intact module with the file's
    identity; its CRC word decides), 'other' (an intact module of another build is there: erase
    without comparing) or None (nothing known: compare)."""
    if info is None:
        return None
    m = _listed(info, step)
    if m is not None and _why_unproven(m, step) is None:
        return "present"
    p = step.module.prefix
    if any(o.function == p.function and o.index == p.index and o.valid for o in info):
        return "other"
    return None


def _kind(step: FlashStep) -> str:
    p = step.module.prefix
    return f"system part {p.index}" if p.function == ModuleFunction.SYSTEM_PART else "the user part"


def _all_erasable(device, step: FlashStep) -> bool:
    pages = device.memory_map(step.alt).pages_overlapping(step.address, step.address + len(step.data))
    return bool(pages) and all(p.erasable for p in pages)


def _crc_word(device, step: FlashStep) -> bytes:
    end = step.address + len(step.data)
    return device.read(step.alt, end - 4, 4)


def _check_crc_word(device, step: FlashStep) -> None:
    """The module's CRC word as sent: with Device OS's check of the module against it after the
    boot, that makes the flash the file (a lost write would leave the old module's CRC)."""
    try:
        held = _crc_word(device, step)
    except (ParticlePyError, Interrupted) as err:
        err.unverified = True
        raise
    want = step.data[-4:]
    if held != want:
        from particle_py.ops.dfu_session import verify_failed

        raise verify_failed(step.address + len(step.data) - 4, held, want)


def step_progress(reporter: events.Reporter, task: str, total: int):
    """The progress(done, total) callback of one step's write: Progress events for ``task``,
    the first (0 of total) at once, as the step starts."""
    reporter.progress(task, 0, total)
    return lambda done, of: reporter.progress(task, done, of)


def came_back(platform, ids: set, old, *, dfu: Optional[bool] = None):
    """The device after its reset: a new enumeration (another address) of the same board, in
    either mode (or the one asked for); None when it did not come back in time. A bootloader
    whose DFU serial is not the device id (the 2015 Gen2 one: 00000000010C) gives no id to
    match on: then the new enumeration of the platform is the board (the one on the same
    port, if several)."""
    from particle_py.ops.discovery import MODE_DFU, MODE_NORMAL
    from particle_py.ops.reconnect import Board, bus_address, named_by, port_path, refind

    board = Board(platform, named_by(ids), port_path(old), bus_address(old))
    mode = None if dfu is None else (MODE_DFU if dfu else MODE_NORMAL)
    # listing the bus is cheap; a short poll saves the user most of a poll period per reset
    return refind(board, mode=mode, timeout_ms=BOOT_TIMEOUT_MS, poll_ms=BOOT_POLL_MS)


def back_in_dfu(entry, ids: set, reporter: events.Reporter = events.QUIET):
    """Ask the running device for DFU mode and find it there (by the ids it has shown)."""
    from particle_py import control_codes
    from particle_py.ops.device import send_control
    from particle_py.ops.discovery import DFU_HELP
    from particle_py.ops.reconnect import RECONNECT_FAILED

    reporter.detail("Switching device to DFU mode")
    send_control(entry, control_codes.DFU_MODE, may_vanish=True)
    found = came_back(entry.platform, ids, entry.usb_device, dfu=True)
    if found is None:
        raise ParticlePyError(RECONNECT_FAILED, DFU_HELP)
    return found


def _prove_after_boot(device, steps: list[FlashStep], result: FlashResult, *, back_to_dfu: bool,
                      reporter: events.Reporter) -> None:
    """Device OS's module info after the boot proves each step, else the bytes are read back
    over DFU. ``back_to_dfu``: the flash would not have reset the device (system parts only):
    it goes back to DFU mode, where particle-cli leaves it."""
    from particle_py.control import ControlSession, module_info
    from particle_py.ops.dfu_session import ParticleDfuDevice, first_difference
    from particle_py.ops.discovery import release_entry

    platform, ids = device.platform, {device.device_id}
    entry = came_back(platform, ids, device.entry.usb_device)
    if entry is None:
        err = ParticlePyError(f"the device did not come back within {BOOT_TIMEOUT_MS // 1000} s of its reset, "
                              "so Device OS could not check what was written",
                              "An app that crashes at start (red SOS) keeps Device OS from answering. Put the "
                              "device in DFU mode and check the bytes by reading them back:", EX_FLASH_FAILED)
        err.check_with_verify = True
        raise err
    unproven = list(steps)
    if not entry.in_dfu:
        info = module_info.read(ControlSession(entry.usb_device))
        if info is not None:
            unproven = []
            for step in steps:
                why = _why_unproven(_listed(info, step), step)
                if why is None:
                    p = step.module.prefix
                    result.verified_by[step.source.basename] = "module info"
                    reporter.detail(f"Checked by Device OS: {step.source.basename} ({_kind(step)} v{p.version}, "
                             f"{len(step.data)} bytes, CRC valid)")
                else:
                    reporter.detail(f"Not proven by Device OS's module info: {step.source.basename} ({why}); reading it back")
                    unproven.append(step)
        else:
            reporter.detail("Device OS does not answer module info: reading back what was written")
        if not unproven and not back_to_dfu:
            release_entry(entry)
            return
        ids.add(entry.device_id)
        try:
            entry = back_in_dfu(entry, ids, reporter)
        except ParticlePyError:
            release_entry(entry)
            raise
    if not unproven:
        release_entry(entry)
        return
    dfu = ParticleDfuDevice(entry, reporter)
    try:
        for step in unproven:
            try:
                back = dfu.read(step.alt, step.address, len(step.data))
            except (ParticlePyError, Interrupted) as err:
                err.unverified = True
                raise
            if back != step.data:
                bad = first_difference(back, step.data)
                err = ParticlePyError(
                    f"Verify failed: {step.source.basename} is not in flash as sent: 0x{step.address + bad:08x} "
                    f"holds 0x{back[bad]:02x}, expected 0x{step.data[bad]:02x}",
                    "The device did not store what was sent. Run the command again; if it repeats, the flash "
                    "may be worn or protected.", EX_FLASH_FAILED)
                err.bad_step = step
                raise err
            result.verified_by[step.source.basename] = "read-back"
        if not back_to_dfu:
            dfu.reset(leave=True)
    finally:
        dfu.close()


def _after_writing(err, result: FlashResult, args, *, factory, force, verify, checked: bool) -> ParticlePyError:
    """Everything was sent; a signal or a failure came while the device restarted or was being
    checked. What it holds, and how to finish."""
    names = ", ".join(s.source.basename for s in result.written)
    signalled = isinstance(err, Interrupted)
    bad = getattr(err, "bad_step", None)
    if checked:
        message = f"{err.label} after everything was written and verified."
        hint = ("The device holds the new firmware; it may still be in DFU mode (blinking yellow): press its "
                "RESET button to start it.")
        out = ParticlePyError(message, hint, err.exit_code)
        out.state_reported = True
        return out
    if signalled:
        message = f"{err.label} after everything was written, before it was verified."
    elif bad is not None:
        message = err.message
    else:
        message = f"Written but not verified: {err.message}"
    lines = []
    if bad is not None:
        lines.append(f"{bad.source.basename} is NOT correctly in flash; treat it as not written.")
    else:
        lines.append(f"Sent to the device: {names}; NOT verified: treat it as not written until a run "
                     "that ends with Flash success!.")
    if not signalled and err.hint and bad is not None:
        lines.append(err.hint)
    if getattr(err, "check_with_verify", False):
        lines.append(err.hint)
        lines.append("  " + resume_command(list(args), factory=factory, force=force, verify=True))
    else:
        lines.append(("To finish, run" if signalled else
                      "Reconnect the device (put it in DFU mode if it does not switch by itself) and run") + ":")
        lines.append("  " + resume_command(list(args), factory=factory, force=force, verify=verify))
    out = ParticlePyError(message, "\n".join(lines), err.exit_code if signalled else (err.exit_code or EX_FLASH_FAILED))
    out.state_reported = True
    return out


def forced_outcomes(steps: list[FlashStep], platform: Platform) -> list[str]:
    """What the device will do with modules written past a check (--force), in plain words."""
    notes = []
    for step in steps:
        module = step.module
        if module is None or module.prefix is None:
            continue
        prefix, name = module.prefix, step.source.basename
        is_app = prefix.function == ModuleFunction.USER_PART
        fate = ("it will boot into safe mode (breathing magenta)" if is_app else
                "it will not start Device OS and stays in DFU mode (blinking yellow)")
        if prefix.platform_id != platform.platform_id:
            built = by_id(prefix.platform_id)
            other = built.display_name if built else f"platform {prefix.platform_id}"
            what = f"{_article(other)} {other} app" if is_app else f"Device OS built for {_article(other)} {other}"
            notes.append(f"The {platform.display_name} cannot run {what} ({name}): {fate}.")
        elif not module.crc_ok:
            notes.append(f"{name} fails its CRC check, so the {platform.display_name} will not run it: {fate}.")
    return notes


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _shares_a_page(step: FlashStep, steps: list[FlashStep], device) -> bool:
    """Whether erasing this step's pages could wipe bytes another given module puts there (then
    the write keeps what lies outside its own range; otherwise that is old firmware, let go)."""
    pages = device.memory_map(step.alt).pages_overlapping(step.address, step.address + len(step.data))
    if not pages:
        return False
    lo, hi = pages[0].start, pages[-1].end
    return any(o is not step and o.alt == step.alt and o.address < hi and lo < o.address + len(o.data)
               for o in steps)


def _stopped_before_writing(sig: Interrupted, args, *, factory, force, verify=None) -> ParticlePyError:
    return ParticlePyError(f"{sig.label} before anything was written.",
                           "The device holds what it held (it may be in DFU mode, blinking yellow). To flash, run:\n"
                           "  " + resume_command(list(args), factory=factory, force=force, verify=verify),
                           sig.exit_code)


def _interrupted(err, step: Optional[FlashStep], result: FlashResult, args, *, factory, force, verify=None):
    """The error that says where a flash stopped (a USB fault or a signal): what each given file
    is now on the device, and the command that finishes the job."""
    from particle_py.ops.interruption import record_of, state_line

    signalled = isinstance(err, Interrupted)
    reached = getattr(err, "reached_address", None)
    done = ", ".join(s.source.basename for s in result.written if s not in result.unproven)
    sent = ", ".join(s.source.basename for s in result.unproven)
    hint_lines = []
    if done:
        hint_lines.append(f"Written and verified before the {'interruption' if signalled else 'failure'}: {done}.")
    if sent:
        hint_lines.append(f"Written, not yet verified (Device OS checks it after the reset, which did not come): "
                          f"{sent}.")
    if step is not None:
        end = step.address + len(step.data)
        span = f"0x{step.address:08x}-0x{end:08x}"
        if getattr(err, "nothing_written", False):
            hint_lines.append(f"Nothing of {step.source.basename} was written ({span} is as it was).")
        elif getattr(err, "unverified", False) or (signalled and reached == end):
            hint_lines.append(f"{step.source.basename} was sent but not read back to check it ({span}); "
                              "treat it as NOT written.")
        elif signalled:
            # from what the write session did, not the last address touched: erased is not written
            hint_lines.append(state_line(step.source.basename, record_of(err), step.address, end))
        else:
            hint_lines.append(f"{step.source.basename} was NOT completely written ({span}); the device may not "
                              "start until it is.")
    left = [s.source.basename for s in result.steps if s not in result.written and s is not step]
    if left and signalled:
        hint_lines.append(f"Not started: {', '.join(left)}.")
    if not signalled and err.hint:
        hint_lines.append(err.hint)
    hint_lines.append(("To finish, run" if signalled else
                       "Reconnect the device (put it in DFU mode if it does not switch by itself) and run") + ":")
    hint_lines.append("  " + resume_command(list(args), factory=factory, force=force, verify=verify))
    if signalled:
        record = record_of(err)
        where = ""
        if step is not None and record is not None and record.reached is not None:
            where = f" at 0x{record.reached:08x}"
        elif step is not None and record is not None and record.erased:
            where = " while erasing, before any of it was written"
        elif step is not None and record is None and reached is not None:
            where = f" at 0x{reached:08x}"
        name = step.source.basename if step is not None else "the device"
        message = f"Flashing {name} {err.label[0].lower()}{err.label[1:]}{where}."
        return ParticlePyError(message, "\n".join(hint_lines), err.exit_code)
    where = f" at 0x{reached:08x}" if reached is not None else ""
    cause = {-4: " (the device was disconnected)", -7: " (the device stopped answering)"}.get(
        getattr(err, "libusb_code", None), "")
    message = f"Flashing {step.source.basename} stopped{where}: {err.message}{cause}"
    return ParticlePyError(message, "\n".join(hint_lines), err.exit_code or EX_FLASH_FAILED)
