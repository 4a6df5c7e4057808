"""`particle update`: bring a device's Device OS to a release, module by module, verified.

1. Find the device (any mode) and the release (``--target``, the newest pinned one, or for a
   platform with none pinned the cloud's latest).
2. Get every file of the release and check it (sources.obtain) before the device is touched.
3. Plan with flash's planner (checks, destinations, dependency order; a bootloader staged in
   the OTA region with the 0xA5 flag), then read what the device holds: a module whose bytes
   are already in flash is skipped, which is read, not assumed.
4. Write the rest over DFU with the smart, read-back write; leave DFU so Device OS boots (and
   applies a staged bootloader).

A failure or Ctrl-C during step 4 becomes a ParticlePyError that says which modules are in
flash, which are not, and the command that finishes the job.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Optional

from particle_py import events
from particle_py.errors import Interrupted, ParticlePyError, deferred_interrupts
from particle_py.firmware.module import ModuleFunction
from particle_py.ops.flash import FlashSource, FlashStep, plan as flash_plan
from particle_py.ops.interruption import as_interrupted

EX_UPDATE_FAILED = 1


VIA_DFU, VIA_CONTROL = "dfu", "control"
# The Result event sent once the plan is known, before anything is written: the release, the
# device and each module's line (PlannedStep.describe).
PLAN = "update plan"


@dataclass
class PlannedStep:
    step: FlashStep
    present: bool                    # the device already holds exactly these bytes there
    via: str = VIA_DFU               # VIA_CONTROL: Device OS installs it from normal mode
    skimmed: bool = False            # present by its first and last bytes: Device OS's check proves the rest

    @property
    def label(self) -> str:
        return self.step.source.basename

    def describe(self) -> str:
        s = self.step
        if s.module is None:
            what = "flag: apply the staged bootloader at the next boot"
        else:
            p = s.module.prefix
            kind = {ModuleFunction.BOOTLOADER: "bootloader", ModuleFunction.SYSTEM_PART: f"system part {p.index}",
                    ModuleFunction.RADIO_STACK: "radio stack", ModuleFunction.MONO_FIRMWARE: "monolithic firmware"
                    }.get(p.function, f"module function {p.function}")
            what = f"{kind} v{p.version}" + (", staged for Device OS to apply" if s.staged else "")
        where = f"alt {s.alt} 0x{s.address:08x}" if s.alt else f"0x{s.address:08x}"
        if self.via == VIA_CONTROL:
            what = f"{kind} v{s.module.prefix.version}"
            where = "Device OS installs it (control request)"
        state = "already on the device" if self.present else "to write"
        return f"{self.label} ({what}) -> {where}: {state}"


@dataclass
class UpdateResult:
    platform: object
    device_id: str
    version: str
    steps: list[PlannedStep]
    written: list[PlannedStep] = field(default_factory=list)
    left_dfu: bool = False
    verified_by: str = ""            # "module info", "read-back" or "" (nothing written over DFU)
    left_from: object = None         # the USB device that left DFU mode (the board comes back as another)
    chosen: str = ""                 # why this release, when no --target named it and it is not the newest pinned

    @property
    def up_to_date(self) -> bool:
        return all(s.present for s in self.steps)


def resume_command(device_arg: Optional[str], target: Optional[str], paths) -> str:
    parts = ["particle", "update"] + ([device_arg] if device_arg else [])
    if target:
        parts += ["--target", target]
    for p in paths or ():
        parts += ["--from", p]
    return " ".join(shlex.quote(p) for p in parts)


def choose_version(platform, target: Optional[str], paths=(), api=None) -> str:
    """``target``, else the one release for the platform the --from paths hold, else the newest
    pinned release, else (nothing pinned for the platform) the cloud's latest."""
    from particle_py.firmware import releases, sources

    if target:
        if not releases.is_version(target):
            raise ParticlePyError(f"Invalid version: {target}",
                                  "Give a Device OS version such as 2.3.1 (particle-py knows: "
                                  + (", ".join(releases.versions_for(platform.name)) or "none for this platform")
                                  + ").", EX_UPDATE_FAILED)
        return target
    if sources.from_paths(paths):
        found = sources.releases_in(platform, paths)
        if len(found) == 1:
            return found[0]
    latest = releases.latest_pinned(platform.name)
    if latest is None and platform.system_parts:
        # nothing pinned (P2, M-SoM, Tracker-M): the newest release is the cloud's to name, as
        # particle-cli 3.14+ asks it for every platform
        return cloud_latest(platform, api)
    if latest is None:
        raise ParticlePyError("There are currently no system firmware updates available for this device.",
                              f"particle-py has no Device OS release for {platform.display_name}; nothing was "
                              "written. Name one with --target <version> (downloaded from Particle).",
                              EX_UPDATE_FAILED)
    return latest


def cloud_latest(platform, api=None) -> str:
    """The release Particle's cloud names latest for the platform, or an error that says why it
    could not be asked and how to go on without it."""
    from particle_py.cloud.api import NOT_LOGGED_IN, client_from_config
    from particle_py.cloud.errors import ApiError

    try:
        return (api or client_from_config()).latest_device_os(platform.platform_id)
    except ApiError as err:
        if err.status == 404:
            raise ParticlePyError("There are currently no system firmware updates available for this device.",
                                  f"Particle's cloud names no Device OS release for {platform.display_name}; nothing "
                                  "was written. Name one with --target <version>.", EX_UPDATE_FAILED) from None
        if err.message == NOT_LOGGED_IN or err.status == 401:
            why = "Log in (particle login) so particle-py can ask the cloud, or name"
        else:
            why = "Check the connection and run the command again, or name"
        raise ParticlePyError(
            f"Could not ask Particle's cloud for the latest Device OS for {platform.display_name}: {err.message}",
            f"Nothing was written to the device. {why} the version: particle update --target <version> "
            "(with --from <folder or .zip> to use files you have).", EX_UPDATE_FAILED) from None


def releases_latest(platform) -> Optional[str]:
    from particle_py.firmware import releases

    return releases.latest_pinned(platform.name)


def _sources(files) -> list[FlashSource]:
    return [FlashSource(f.name, f.data) for f in files if f.module.prefix.function != ModuleFunction.USER_PART]


def _holds(device, step: FlashStep, skim: bool = False) -> bool:
    """Whether flash holds the step's bytes: its first and last pieces first (cheap, and what an
    interrupted or older module differs in), then everything. ``skim``: the first and last
    pieces decide (for a module Device OS checks by its CRC after the boot)."""
    mm = device.memory_map(step.alt)
    end = step.address + len(step.data)
    if not mm.all(step.address, end, "readable"):
        return False
    head = min(len(step.data), 256)
    if device.read(step.alt, step.address, head) != step.data[:head]:
        return False
    if device.read(step.alt, end - head, head) != step.data[-head:]:
        return False
    return skim or device.read(step.alt, step.address, len(step.data)) == step.data


def _checked_at_boot(device, step: FlashStep) -> bool:
    from particle_py.ops.flash import checked_by_device_os

    return checked_by_device_os(step, device.platform)


def plan_for(device, files) -> list[PlannedStep]:
    steps = flash_plan(_sources(files), device.platform, memory_map=device.memory_map)
    planned = []
    staged_present = False
    for step in steps:
        if step.staged:
            # Staged is good enough when the bootloader itself is already in place.
            boot = step.module.prefix
            target = FlashStep(step.source, step.module, 0, boot.start, step.data)
            staged_present = _holds(device, target)
            planned.append(PlannedStep(step, staged_present))
        elif step.module is None and step.keep_rest:         # the flag that goes with it
            planned.append(PlannedStep(step, staged_present))
        else:
            skim = _checked_at_boot(device, step)
            present = _holds(device, step, skim=skim)
            planned.append(PlannedStep(step, present, skimmed=present and skim))
    return planned


def plan_by_info(platform, files, info) -> list[PlannedStep]:
    """The plan from Device OS's own module info (normal mode): a module is there when Device OS
    lists the same function, index and version and its integrity and dependency checks pass.
    A bootloader goes to Device OS by control request instead of being staged."""
    valid = {(m.function, m.index, m.version) for m in info if m.valid}
    steps = flash_plan(_sources(files), platform)
    planned = []
    for step in steps:
        if step.module is None and step.keep_rest:
            continue                     # the staging flag: Device OS stages by itself
        p = step.module.prefix
        via = VIA_CONTROL if step.staged else VIA_DFU
        if step.staged:
            step = FlashStep(step.source, step.module, 0, p.start, step.data)
        planned.append(PlannedStep(step, (p.function, p.index, p.version) in valid, via))
    return planned


def _crc_word_matches(device, step: FlashStep) -> bool:
    """Device OS found the module intact; its stored CRC being the file's makes it this file."""
    end = step.address + len(step.data)
    if not device.memory_map(step.alt).all(end - 4, end, "readable"):
        return True
    return device.read(step.alt, end - 4, 4) == step.data[-4:]


def update(device_arg: Optional[str] = None, *, target: Optional[str] = None, paths=(),
           allow_download: bool = True, reporter: events.Reporter = events.QUIET) -> UpdateResult:
    """``reporter`` gets the user-facing lines as Steps, the plan as a Result (``PLAN``) before
    anything is written, each module's write as Progress and the -v lines as Details."""
    from particle_py.firmware import sources
    from particle_py.ops.discovery import find_device, release_entry

    entry = find_device(device_arg)
    platform, device_id = entry.platform, entry.device_id
    release_entry(entry)
    version = choose_version(platform, target, paths)
    chosen = ""
    if not target and releases_latest(platform) is None and platform.system_parts \
            and len(sources.releases_in(platform, paths)) != 1:
        chosen = f"the latest release Particle's cloud names for {platform.display_name}"
    elif not target and version != releases_latest(platform):
        chosen = f"the one Device OS release for {platform.display_name} in " + ", ".join(
            sources.from_paths(paths))
    # Everything is fetched and checked before the device is touched.
    files = sources.obtain(platform, version, paths=paths, allow_download=allow_download, reporter=reporter)
    result = UpdateResult(platform, device_id, version, [], chosen=chosen)
    try:
        return _update_device(entry, result, files, reporter, device_arg, target, paths)
    except ParticlePyError as err:
        if getattr(err, "state_reported", False):
            raise
        raise _not_finished(result, err, device_arg, target, paths) from None
    except Interrupted as sig:          # outside a module's write: while planning, or between the ways
        if result.written:
            raise _interrupted(result, None, sig, device_arg, target, paths) from None
        out = ParticlePyError(f"{sig.label} before anything was written.",
                              "The device holds what it held (it may be in DFU mode, blinking yellow). To update, "
                              "run:\n  " + resume_command(device_arg, target, paths), sig.exit_code)
        out.state_reported = True
        raise out from None


def _not_finished(result: UpdateResult, err: ParticlePyError, device_arg, target, paths) -> ParticlePyError:
    """A failure outside a module's write: before anything was written, or while proving it."""
    lines = []
    if not result.written:
        lines.append("Nothing was written to the device.")
    else:
        lines.append("Written: " + ", ".join(s.label for s in result.written) + "; checking that the device "
                     "kept it did not finish.")
    if err.hint:
        lines.append(err.hint)
    lines.append("Reconnect the device (put it in DFU mode if it does not switch by itself) and run "
                 "(it writes only what is missing):")
    lines.append("  " + resume_command(device_arg, target, paths))
    out = ParticlePyError(err.message, "\n".join(lines), err.exit_code or EX_UPDATE_FAILED)
    out.state_reported = True
    return out


def _report_plan(reporter: events.Reporter, result: UpdateResult) -> None:
    p = result.platform
    reporter.emit(events.Result(PLAN, {"platform": p.name, "platform_name": p.display_name,
                                       "device_id": result.device_id, "version": result.version,
                                       "steps": [s.describe() for s in result.steps],
                                       "chosen": result.chosen}))


def _update_device(entry, result: UpdateResult, files, reporter: events.Reporter, device_arg, target,
                   paths) -> UpdateResult:
    from particle_py.ops.device import open_particle_device
    from particle_py.ops.discovery import find_device, release_entry

    platform, version, device_id = result.platform, result.version, entry.device_id
    info = None
    if not entry.in_dfu:
        from particle_py.control import ControlSession, module_info

        entry = find_device(device_id or device_arg)
        info = module_info.read(ControlSession(entry.usb_device))
        if info is None:
            release_entry(entry)
    if info is not None:
        return _update_from_normal_mode(entry, result, files, info, reporter, device_arg, target, paths)
    device = open_particle_device(device_id or device_arg, need_dfu=True, reporter=reporter,
                                  platform_id=platform.platform_id)
    result.device_id = device.device_id
    try:
        result.steps = plan_for(device, files)
    except BaseException:
        device.close()
        raise
    _report_plan(reporter, result)
    return _write_over_dfu(device, result, [s for s in result.steps if not s.present], reporter,
                           device_arg, target, paths)


def _update_from_normal_mode(entry, result: UpdateResult, files, info, reporter: events.Reporter,
                             device_arg, target, paths) -> UpdateResult:
    from particle_py.control import ControlSession, firmware_update
    from particle_py.ops.device import open_particle_device
    from particle_py.ops.discovery import release_entry
    from particle_py.ops.flash import step_progress

    platform = result.platform
    result.steps = plan_by_info(platform, files, info)
    _report_plan(reporter, result)
    current: Optional[PlannedStep] = None
    sent_whole = False
    try:
        for planned in [s for s in result.steps if s.via == VIA_CONTROL and not s.present]:
            current, sent_whole = planned, False
            reporter.step(f"Flashing {planned.label}")
            progress = step_progress(reporter, planned.label, len(planned.step.data))
            firmware_update.update_firmware(ControlSession(entry.usb_device), planned.label, planned.step.data,
                                            progress)
            sent_whole = True
            entry = _back_in_normal_mode(entry)
            _confirm_installed(entry, planned)
            result.written.append(planned)
            current = None
    except ParticlePyError as err:
        release_entry(entry)
        if current is None:
            raise
        raise _interrupted(result, current, err, device_arg, target, paths) from None
    except (Interrupted, KeyboardInterrupt) as sig:
        sig = as_interrupted(sig)
        release_entry(entry)
        if current is not None and sent_whole:
            sig.unverified = True       # Device OS has it all; its install was not confirmed
        raise _interrupted(result, current, sig, device_arg, target, paths) from None
    dfu_steps = [s for s in result.steps if s.via == VIA_DFU]
    if all(s.present for s in dfu_steps):
        release_entry(entry)
        return result              # nothing for DFU: the device never leaves Device OS
    release_entry(entry)
    device = open_particle_device(entry.device_id, need_dfu=True, reporter=reporter,
                                  platform_id=platform.platform_id)
    for planned in dfu_steps:
        if planned.present and not _crc_word_matches(device, planned.step):
            planned.present = False
            reporter.step(f"{planned.label}: same version, other bytes: writing it")
    return _write_over_dfu(device, result, [s for s in dfu_steps if not s.present], reporter,
                           device_arg, target, paths)


def _back_in_normal_mode(entry):
    """The device after Device OS restarted to install a module."""
    from particle_py.ops.discovery import MODE_NORMAL
    from particle_py.ops.reconnect import RECONNECT_FAILED, Board, refind

    found = refind(Board.of(entry), mode=MODE_NORMAL)
    if found is None:
        raise ParticlePyError(RECONNECT_FAILED, "Device OS may still be installing the module; wait for the "
                              "device to breathe cyan, then run the command again.")
    return found


def _confirm_installed(entry, planned: PlannedStep) -> None:
    from particle_py.control import ControlSession, module_info

    p = planned.step.module.prefix
    info = module_info.read(ControlSession(entry.usb_device)) or []
    if not any(m.valid and (m.function, m.index, m.version) == (p.function, p.index, p.version) for m in info):
        raise ParticlePyError(f"Device OS did not install {planned.label}: its module info does not list "
                              f"{planned.label}'s version {p.version} as valid",
                              "Run the command again; if it repeats, put the device in DFU mode and run "
                              "particle update (the bootloader is then staged over DFU).")


def _write_over_dfu(device, result: UpdateResult, todo: list, reporter: events.Reporter,
                    device_arg, target, paths) -> UpdateResult:
    from particle_py.ops.flash import step_progress

    current: Optional[PlannedStep] = None
    sent_whole = False
    try:
        for planned in todo:
            current, sent_whole = planned, False
            step = planned.step
            reporter.step(f"Flashing {planned.label}")
            progress = step_progress(reporter, planned.label, len(step.data))
            # The modules' own CRCs are checked by Device OS when it boots (below), so the bytes
            # are not read back here (their CRC word is); the DCT flag has no CRC and is.
            checked = _checked_at_boot(device, step)
            device.write(step.alt, step.address, step.data, erase=None, verify=step.module is None,
                         progress=progress, preserve=step.keep_rest, skim=checked)
            sent_whole = True
            if checked:
                from particle_py.ops.flash import _check_crc_word

                _check_crc_word(device, step)
            result.written.append(planned)
            current = None
        # Device OS starts from what was written (and applies a staged bootloader); a device
        # that needed nothing goes back to running too, as it was before the update.
        result.left_from = device.entry.usb_device
        device.reset(leave=True)
        result.left_dfu = True
    except ParticlePyError as err:
        if current is None:
            raise
        raise _interrupted(result, current, err, device_arg, target, paths) from None
    except (Interrupted, KeyboardInterrupt) as sig:
        sig = as_interrupted(sig)
        if current is not None and sent_whole:
            sig.unverified = True       # every byte went; only the check of its CRC word did not
        raise _interrupted(result, current, sig, device_arg, target, paths) from None
    finally:
        with deferred_interrupts(drop=True):    # a signal while closing up changes no outcome
            device.close()
    written = [s for s in result.written if s.step.module is not None]
    skimmed = [s for s in result.steps if s.skimmed and s not in result.written]
    if written or skimmed:
        try:
            _verify_after_boot(result, written + skimmed, reporter)
        except (Interrupted, KeyboardInterrupt) as sig:
            raise _interrupted(result, None, as_interrupted(sig), device_arg, target, paths,
                               checking=True) from None
    return result


def _reported(err: ParticlePyError) -> ParticlePyError:
    err.state_reported = True
    return err


def _expected(planned: PlannedStep) -> tuple[int, int, int]:
    p = planned.step.module.prefix
    return p.function, p.index, p.version


def _verify_after_boot(result: UpdateResult, written: list, reporter: events.Reporter, *,
                       again: bool = False) -> None:
    """Device OS checks every module's CRC and dependencies when it boots and reports them in
    its module info: only that proves the update (a read-back proves the bytes, not that
    Device OS runs them). A module skipped on its ends that Device OS finds damaged is written
    and proven again; a written one it does not list valid fails the update. A Device OS too
    old to answer module info is read back over DFU (it runs, so the read-back is the proof
    left); a device that does not come back running is not updated, whatever its flash holds."""
    from particle_py.control import ControlSession, module_info
    from particle_py.ops.discovery import release_entry
    from particle_py.ops.flash import came_back

    platform = result.platform
    # the board's next enumeration, in either mode (one that stays in DFU mode has nothing to
    # say), found by id where its bootloader shows one
    entry = came_back(platform, {result.device_id}, result.left_from)
    running = entry is not None and not entry.in_dfu
    info = module_info.read(ControlSession(entry.usb_device)) if running else None
    if info is not None:
        from particle_py.ops.flash import _listed, _why_unproven, checked_by_device_os

        valid = {(m.function, m.index, m.version) for m in info if m.valid}
        # valid, and (for a module Device OS checks by its CRC) the file's size and SHA-256
        unproven = [s for s in written if _expected(s) not in valid
                    or (checked_by_device_os(s.step, platform)
                        and _why_unproven(_listed(info, s.step), s.step) is not None)]
        if not unproven:
            release_entry(entry)
            result.verified_by = "module info"
            return
        rejected = [s for s in unproven if s in result.written]
        if rejected or again:
            release_entry(entry)
            raise _reported(_rejected(result, rejected or unproven, info))
        # only modules skipped on their first and last bytes: Device OS found them damaged
        before = list(result.written)
        _read_back(result, unproven, reporter, entry)
        rewritten = [s for s in result.written if s not in before]
        _verify_after_boot(result, rewritten or unproven, reporter, again=True)
        return
    if not running and again:
        release_entry(entry)
    else:
        _read_back(result, list(written), reporter, entry if running else None)
        if running:
            return                  # a Device OS that runs and cannot tell: the read-back is the proof left
        # a module the read-back found damaged was written again: the next boot decides
        _verify_after_boot(result, written, reporter, again=True)
        return
    if not running:
        raise _reported(ParticlePyError(
            f"Device OS {result.version} did not start after the update",
            "Every written module is in flash (read back over DFU), but the device did not come back "
            "running Device OS, so the update is not proven. The device may stay in DFU mode (blinking "
            "yellow). Give every file of the release and run: " + resume_command(None, result.version, ()),
            EX_UPDATE_FAILED))


def _rejected(result: UpdateResult, planned: list, info) -> ParticlePyError:
    """Written (or kept), and Device OS does not run it: what its module info says instead."""
    reasons = []
    for s in planned:
        p = s.step.module.prefix
        same = [m for m in info if (m.function, m.index) == (p.function, p.index)]
        if not same:
            why = "not listed"
        elif all(m.version != p.version for m in same):
            why = "listed as version " + ", ".join(str(m.version) for m in same) + f", not {p.version}"
        else:
            m = next(m for m in same if m.version == p.version)
            errors = list(m.validity_errors) or ["a failed check"]
            why = "invalid: " + ", ".join(errors)
            if "DEPENDENCY_CHECK_FAILED" in errors and m.dependencies:
                why += " (it needs " + ", ".join(
                    f"{ {2: 'bootloader', 4: 'system part', 8: 'radio stack'}.get(d.function, f'function {d.function}')}"
                    f"{' ' + str(d.index) if d.function == ModuleFunction.SYSTEM_PART else ''} v{d.version}"
                    for d in m.dependencies) + ")"
        reasons.append(f"{s.label}: {why}")
    return ParticlePyError(
        f"Device OS {result.version} is not running after the update: Device OS does not accept "
        + ", ".join(s.label for s in planned),
        "Device OS's module info after the restart: " + "; ".join(reasons) + ".\nThe bytes are in flash, but "
        "the device may stay in safe mode (breathing magenta) or DFU mode. Give every file of the release "
        "(the modules it depends on too) and run: " + resume_command(None, result.version, ()),
        EX_UPDATE_FAILED)


def _read_back(result: UpdateResult, unproven: list, reporter: events.Reporter, entry=None) -> None:
    from particle_py.ops.device import open_particle_device
    from particle_py.ops.dfu_session import ParticleDfuDevice
    from particle_py.ops.discovery import release_entry
    from particle_py.ops.flash import back_in_dfu

    if entry is not None and not entry.in_dfu:
        try:
            entry = back_in_dfu(entry, {result.device_id, entry.device_id}, reporter)
        except ParticlePyError:
            release_entry(entry)
            raise
    if entry is not None:
        device = ParticleDfuDevice(entry, reporter)
    else:
        device = open_particle_device(result.device_id, need_dfu=True, reporter=reporter,
                                      platform_id=result.platform.platform_id)
    try:
        for planned in unproven:
            # a staged module is checked where it was written: Device OS installs it only once it
            # starts, which it did not (or it would have answered module info)
            step = planned.step
            held = _holds(device, step)
            if not held and planned not in result.written:
                # skipped on its first and last bytes, and Device OS found it damaged: write it now
                reporter.step(f"Flashing {planned.label}")
                device.write(step.alt, step.address, step.data, erase=None, verify=True)
                result.written.append(planned)
            elif not held:
                raise _reported(ParticlePyError(
                    f"Verify failed: {planned.label} is not in flash after the update",
                    "The device did not keep what was sent. Run the command again; if it repeats, the flash "
                    "may be worn or protected.\nReconnect the device and run: "
                    + resume_command(None, result.version, ()), EX_UPDATE_FAILED))
        result.verified_by = "read-back"
        result.left_from = device.entry.usb_device
        device.reset(leave=True)
    finally:
        device.close()


def _interrupted(result: UpdateResult, current: Optional[PlannedStep], err, device_arg, target, paths, *,
                 checking: bool = False):
    """What the device holds after a failure or a signal mid-update, and the command that finishes
    it. ``current``: the module being written (None: between modules, or, with ``checking``,
    after every write while Device OS's check was awaited)."""
    from particle_py.ops.interruption import record_of, short_state, state_line

    signalled = isinstance(err, Interrupted)
    done = [s for s in result.steps if s.present or s in result.written]
    left = [s for s in result.steps if s not in done]
    lines = []
    if done:
        lines.append("In flash: " + ", ".join(s.label for s in done) + " (Device OS checks each module's CRC "
                     "when it starts).")
    record = record_of(err)
    checking = checking or (current is None and not left)     # every module written: only the proof was left
    if current is not None:
        lo, hi = current.step.address, current.step.address + len(current.step.data)
        nothing = getattr(err, "nothing_written", False) and (record is None or not record.changed)
        unchecked = signalled and getattr(err, "unverified", False)
        if unchecked:
            state = "sent whole, not checked yet"
        elif signalled:
            state = short_state(None if nothing else record, lo, hi)
        else:
            state = "untouched" if nothing else "incomplete"
        lines.append(f"Not written: {current.label} ({state}, {span_of(lo, hi)})"
                     + "".join(f", {s.label}" for s in left if s is not current) + ".")
        if unchecked and current.via == VIA_CONTROL:
            lines.append(f"Device OS received {current.label} whole; that it installed it was not confirmed.")
        elif unchecked:
            lines.append(f"{current.label} was sent whole, but its CRC word was not read back to check it; treat "
                         "it as NOT written.")
        elif signalled and not nothing and record is not None and record.changed:
            lines.append(state_line(current.label, record, lo, hi))
    elif left:
        lines.append("Not written: " + ", ".join(s.label for s in left) + ".")
    if checking:
        lines.append("Everything was written; Device OS's check of it after the restart did not finish.")
    else:
        lines.append("The device may stay in DFU mode (blinking yellow) until the update is finished.")
    if not signalled and err.hint:
        lines.append(err.hint)
    lines.append(("To finish, run" if signalled else
                  "Reconnect the device (put it in DFU mode if it does not switch by itself) and run") + ":")
    lines.append("  " + resume_command(device_arg, target, paths))
    if signalled:
        label = err.label
        if checking:
            message = f"{label} after every module of Device OS {result.version} was written, before it was verified."
        elif current is None:
            message = f"{label} during the update of Device OS {result.version}, between two modules."
        else:
            reached = record.reached if record is not None else None
            where = f" at 0x{reached:08x}" if reached is not None else ""
            message = f"Update of Device OS {result.version} {label[0].lower()}{label[1:]} while writing " \
                      f"{current.label}{where}."
        out = ParticlePyError(message, "\n".join(lines), err.exit_code)
        out.state_reported = True
        return out
    cause = {-4: " (the device was disconnected)", -7: " (the device stopped answering)"}.get(
        getattr(err, "libusb_code", None), "")
    reached = getattr(err, "reached_address", None)
    where = f" at 0x{reached:08x}" if reached is not None else ""
    message = f"Update of Device OS {result.version} stopped while writing {current.label}{where}: " \
              f"{err.message}{cause}"
    out = ParticlePyError(message, "\n".join(lines), err.exit_code or EX_UPDATE_FAILED)
    out.state_reported = True
    return out


def span_of(lo: int, hi: int) -> str:
    return f"0x{lo:08x}-0x{hi:08x}"


# --- the offline restore bundle (firmware/bundle.py) ---------------------------------------------

@dataclass
class SavedBundle:
    path: str
    platform: object
    version: str
    files: list                      # (name, role, size)
    left_out: list = field(default_factory=list)     # (name, why)
    size: int = 0


def _role(module) -> str:
    p = module.prefix
    if p.function == ModuleFunction.BOOTLOADER and p.index:
        return f"bootloader {p.index}"            # rtl872x: the prebootloader parts and the bootloader
    return {ModuleFunction.BOOTLOADER: "bootloader", ModuleFunction.RADIO_STACK: "radio stack",
            ModuleFunction.SYSTEM_PART: f"system part {p.index}"}.get(p.function, f"module function {p.function}")


def save_bundle(path: str, device_arg: Optional[str] = None, *, platform_name: Optional[str] = None,
                target: Optional[str] = None, paths=(), allow_download: bool = True,
                reporter: events.Reporter = events.QUIET) -> SavedBundle:
    """Write one file with everything a restore of the platform needs (Device OS ``target``, or
    the release ``update`` would choose, and the platform's Tinker) for the device attached, or
    for ``platform_name`` with no device. The device is only looked at, never changed."""
    from particle_py import platforms
    from particle_py.firmware import bundle, known_apps, sources
    from particle_py.ops.discovery import find_device, release_entry

    if platform_name:
        platform = platforms.by_name(platform_name)
        if platform is None:
            raise ParticlePyError(f"Unknown platform {platform_name!r}",
                                  "Use one of: " + ", ".join(platforms.names()) + ".", EX_UPDATE_FAILED)
    else:
        entry = find_device(device_arg)
        platform = entry.platform
        release_entry(entry)
    version = choose_version(platform, target, paths)
    files = sources.obtain(platform, version, paths=paths, allow_download=allow_download, reporter=reporter)
    contents, left_out = [], []
    for f in files:
        p = f.module.prefix
        if p.function == ModuleFunction.BOOTLOADER and p.index in platform.encrypted_bootloaders:
            left_out.append((f.name, "encrypted on the device; no tool writes it"))
            continue
        contents.append((f.name, _role(f.module), f.data))
    app = known_apps.find(platform.name, "tinker")
    if app is not None:
        contents.append((app.filename, bundle.ROLE_TINKER, known_apps.fetch(app)))
    else:
        left_out.append(("Tinker", f"particle-cli ships none for {platform.display_name}"))
    if platform.has_ncp:
        left_out.append(("NCP firmware", "updated only on request, not part of a Device OS release"))
    data = bundle.build(platform, version, contents)
    bundle.write(path, data)
    return SavedBundle(path, platform, version, [(n, r, len(d)) for n, r, d in contents], left_out, len(data))
