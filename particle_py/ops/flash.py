"""`particle flash --usb`: check every module, order them, write them, prove they are there.

Nothing is written until every file has passed every check. Each write goes through
``ParticleDfuDevice.write`` (smart flashing: unchanged pages are skipped, blank pages are not
erased, written bytes are read back). Progress and messages go through callbacks; the front
end prints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional

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


def _phrase(function: int) -> str:
    from particle_py.firmware.describe import FUNCTION_PHRASES

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
    steps = []
    for src in sources:
        module = None if _headerless_image(src, platform) else _check_module(src, platform, force=force)
        alt, address, data = _destination(src, module, platform, factory=factory)
        steps.append(_check_destination(FlashStep(src, module, alt, address, data), platform,
                                        factory=factory, memory_map=memory_map))
    # A staged module goes first, then its flag, as particle-cli 2.x did: on Gen2 the DFU
    # routines move once new system parts are written. One staged module at a time: the OTA
    # region holds one.
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
              on_event: Optional[Callable[[str], None]] = None,
              progress_factory: Optional[Callable[[FlashStep], Callable[[int, int], None]]] = None
              ) -> FlashResult:
    """Flash ``args`` (files or known-app names) to the connected device over DFU.

    on_event gets the user-facing lines (``Flashing <platform> device <id>``, ``Flashing <file>``);
    progress_factory(step) returns a progress(done, total) callback for that step's write.
    """
    from particle_py.ops.device import open_entry, release_entry, resolve_target

    emit = on_event or (lambda line: None)
    items = read_local_files(args)
    given = ([device_id] if device_id else []) + list(args)
    # The target and every file are certain before the device changes mode: the checks run
    # against the platform's table first, then again against the device's own memory map.
    # Known-app names are downloaded here too, while the device still runs its own firmware.
    entry = resolve_target(device_id, need_dfu=True, platform_id=_wanted_platform(items))
    try:
        sources = resolve_sources(items, entry.platform)
        plan(sources, entry.platform, factory=factory, force=force)
    except BaseException:
        release_entry(entry)
        raise
    try:
        device = open_entry(entry, need_dfu=True, on_event=emit)
    except Interrupted as sig:
        raise _stopped_before_writing(sig, given, factory=factory, force=force, verify=verify) from None
    result = None
    try:
        steps = plan(sources, device.platform, factory=factory, force=force, memory_map=device.memory_map)
        result = FlashResult(steps, cannot_run=forced_outcomes(steps, device.platform) if force else [],
                             platform_name=device.platform.display_name)
        emit(f"Flashing {device.platform.name} device {device.device_id}")
        for step in steps:
            emit(f"Flashing {step.source.basename}")
            do_verify = verify if verify is not None else len(step.data) <= VERIFY_BY_DEFAULT_MAX
            progress = progress_factory(step) if progress_factory else None
            try:
                stats = device.write(step.alt, step.address, step.data, erase=None, verify=do_verify,
                                     progress=progress,
                                     preserve=step.keep_rest or _shares_a_page(step, steps, device))
            except (ParticlePyError, Interrupted) as err:
                raise _interrupted(err, step, result, given, factory=factory, force=force, verify=verify) from None
            result.bytes_skipped += getattr(stats, "bytes_skipped", 0) if stats else 0
            result.written.append(step)
        # Leave DFU so the new app runs: what particle-cli does after a user part. A Gen2
        # device that vanishes or answers dfuDNLOAD-IDLE here is normal; the bytes are verified.
        # A staged bootloader is applied by Device OS when it next boots: leave for that too.
        if not factory and any(s.function in (ModuleFunction.USER_PART, None) or s.staged for s in steps):
            try:
                device.reset(leave=True)
            except Interrupted as sig:
                raise ParticlePyError(f"{sig.label} after everything was written and verified.",
                                      "The device holds the new firmware; it may still be in DFU mode (blinking "
                                      "yellow): press its RESET button to start it.", sig.exit_code) from None
            result.left_dfu = True
        return result
    except Interrupted as sig:          # between steps, or while planning: nothing half-written
        if result is None or not result.written:
            raise _stopped_before_writing(sig, given, factory=factory, force=force, verify=verify) from None
        raise _interrupted(sig, None, result, given, factory=factory, force=force, verify=verify) from None
    finally:
        with deferred_interrupts(drop=True):    # a signal while closing up changes no outcome
            device.close()


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
    signalled = isinstance(err, Interrupted)
    reached = getattr(err, "reached_address", None)
    done = ", ".join(s.source.basename for s in result.written)
    hint_lines = []
    if done:
        hint_lines.append(f"Written and verified before the {'interruption' if signalled else 'failure'}: {done}.")
    if step is not None:
        end = step.address + len(step.data)
        span = f"0x{step.address:08x}-0x{end:08x}"
        if getattr(err, "nothing_written", False):
            hint_lines.append(f"Nothing of {step.source.basename} was written ({span} is as it was).")
        elif getattr(err, "unverified", False) or (signalled and reached == end):
            hint_lines.append(f"{step.source.basename} was sent but not read back to check it ({span}); "
                              "treat it as NOT written.")
        elif signalled and reached is not None:
            hint_lines.append(f"{step.source.basename} was written only up to 0x{reached:08x} (of {span}); the "
                              "device may not start until it is written whole.")
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
        where = f" at 0x{reached:08x}" if reached is not None and step is not None else ""
        name = step.source.basename if step is not None else "the device"
        message = f"Flashing {name} {err.label[0].lower()}{err.label[1:]}{where}."
        return ParticlePyError(message, "\n".join(hint_lines), err.exit_code)
    where = f" at 0x{reached:08x}" if reached is not None else ""
    cause = {-4: " (the device was disconnected)", -7: " (the device stopped answering)"}.get(
        getattr(err, "libusb_code", None), "")
    message = f"Flashing {step.source.basename} stopped{where}: {err.message}{cause}"
    return ParticlePyError(message, "\n".join(hint_lines), err.exit_code or EX_FLASH_FAILED)
