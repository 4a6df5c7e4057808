"""Opening a Particle device: normal-mode requests, the switch to DFU mode, the DFU session.

``open_particle_device`` = ``open_entry(resolve_target(...))``: the device is chosen
(``ops.discovery``) before any device changes mode, then a normal-mode device is switched to
DFU mode by control request and found again (``ops.reconnect``), and opened as a
``ParticleDfuDevice`` (``ops.dfu_session``).
"""
from __future__ import annotations

from typing import Optional

from particle_py import events
from particle_py.errors import ParticlePyError
from particle_py.ops.dfu_session import ParticleDfuDevice
from particle_py.ops.discovery import DFU_HELP, MODE_DFU, UsbEntry, is_full_id, release_entry, resolve_target
from particle_py.ops.reconnect import RECONNECT_FAILED, Board, refind

def send_control(entry: UsbEntry, req_type: int, payload: bytes = b"", *,
                 may_vanish: bool = False) -> tuple[int, bytes]:
    """A vendor control request to a normal-mode device (``particle_py.control.ControlSession``,
    which follows a request that restarts the device by itself; ``may_vanish`` names those)."""
    from particle_py.control import ControlSession

    reply = ControlSession(entry.usb_device).request(req_type, payload).taken()
    return reply.result, reply.data


def switch_to_dfu(entry: UsbEntry, reporter: events.Reporter = events.QUIET) -> UsbEntry:
    """Ask a normal-mode device to re-enumerate in DFU mode and find it again. The id it showed
    in normal mode is carried across the switch: a bootloader that shows another serial (the
    2015 Gen2 one's 00000000010C, the Core's) is found by its USB port instead."""
    from particle_py import control_codes

    if entry.in_dfu:
        return entry
    reporter.step("Switching device to DFU mode")
    device_id, known = entry.device_id, entry.id_known
    board = Board.of(entry, {device_id} if device_id else ())
    try:
        send_control(entry, control_codes.DFU_MODE, may_vanish=True)
    except ParticlePyError as err:
        release_entry(entry)
        raise ParticlePyError(f"Could not switch the device to DFU mode: {err.message}", DFU_HELP) from None
    release_entry(entry)
    found = refind(board, mode=MODE_DFU)
    if found is None:
        raise ParticlePyError(RECONNECT_FAILED, DFU_HELP)
    if device_id and not found.id_known:
        found.device_id, found.id_known = device_id, known
    return found


ID_UNCONFIRMED = "Could not confirm the device id: "


def confirm_identity(entry: UsbEntry, wanted: Optional[str] = None, reporter=events.QUIET, *,
                     required: bool = True) -> UsbEntry:
    """``entry`` with its own id in ``device_id`` (``id_known``), in the mode it was found in;
    refused unless it is ``wanted`` (an id or id prefix) when given. The library rule for every
    command that writes to a device or calls the cloud for it: a DFU bootloader that does not
    show the id (2015 Gen2, Core) is not believed; the device is restarted into its firmware,
    which shows the id, and switched back to DFU mode. Nothing is written either way.

    A device that cannot show its id (no firmware it can start) is refused; with ``required``
    False and no ``wanted``, it is returned in DFU mode with no id (``device_id`` "": backups
    then go under "unknown-device", never under a bootloader's serial). The entry is released
    on error."""
    from particle_py.ops.discovery import matches

    if not entry.id_known:
        entry = _learn_id(entry, reporter, required=required or bool(wanted))
    if wanted and not matches(entry, wanted):
        own = entry.device_id
        release_entry(entry)
        raise ParticlePyError(f"Device not found: {wanted}",
                              f"The {entry.platform.display_name} attached is {own}. Check the id "
                              "(`particle usb list`); nothing was written to the device or sent to the cloud.")
    return entry


def confirmed_id(entry: UsbEntry, wanted: Optional[str] = None, reporter=events.QUIET) -> str:
    """The device's own id (``confirm_identity``, required); the entry stays open, in DFU mode
    when it was found in DFU mode."""
    return confirm_identity(entry, wanted, reporter).device_id


def _learn_id(entry: UsbEntry, reporter, *, required: bool) -> UsbEntry:
    rep = reporter
    name = entry.platform.display_name
    board = Board.of(entry, (), after_reset=True)
    session = ParticleDfuDevice(entry)
    try:
        # one byte read first: a device that cannot be opened (permissions, driver) says so now;
        # the leave itself swallows errors, since a resetting bootloader answers oddly
        session.read(0, session.memory_map(0).base, 1)
        rep.step("Restarting the device to read its id (its DFU bootloader does not show it)")
        session.reset(leave=True)
    finally:
        session.close()
    running = refind(board)
    if running is None:
        raise ParticlePyError(ID_UNCONFIRMED + f"the {name} did not come back after its restart",
                              "Nothing was written. Start the device's firmware (press RESET), check its id "
                              "with `particle identify`, and run the command again.")
    if running.in_dfu or not running.id_known:
        if not required:
            found = switch_to_dfu(running, rep)         # (already there when it stayed in DFU mode)
            found.device_id, found.id_known = "", False
            return found
        release_entry(running)
        why = ("stays in DFU mode (no firmware it can start), and its bootloader does not show the id"
               if running.in_dfu else "shows no device id in normal mode either")
        raise ParticlePyError(ID_UNCONFIRMED + f"the {name} {why}", NO_ID_HINT)
    return switch_to_dfu(running, rep)


NO_ID_HINT = ("Nothing was written. Give the device firmware it can start (`particle update`), then run the "
              "command again.")


def open_entry(entry: UsbEntry, *, need_dfu: bool = True, reporter: events.Reporter = events.QUIET,
               need_id: bool = False) -> ParticleDfuDevice:
    """Open a resolved device, switching it to DFU mode first when ``need_dfu``. ``reporter``
    gets the mode switch as a Step and the session's -v lines as Details. An id the device has not confirmed (one the
    user gave for an id-less bootloader) is confirmed first, or refused (``confirm_identity``);
    ``need_id``: the device's own id is learned even when none was given (backups, cloud calls;
    a device that cannot show it is opened with no id, for the caller to refuse or not)."""
    if not entry.id_known and (need_id or is_full_id(entry.device_id)):
        wanted = entry.device_id if is_full_id(entry.device_id) else None
        entry = confirm_identity(entry, wanted, reporter, required=False)
    if need_dfu and not entry.in_dfu:
        entry = switch_to_dfu(entry, reporter)
    return ParticleDfuDevice(entry, reporter)


def open_particle_device(device_id: Optional[str] = None, *, need_dfu: bool = True,
                         reporter: events.Reporter = events.QUIET,
                         platform_id: Optional[int] = None, need_id: bool = False) -> ParticleDfuDevice:
    """The single Particle device connected, or the one with this id, in DFU mode when
    ``need_dfu`` (switched by control request if it is running). ``platform_id`` picks the
    one device of that platform when several are attached (as particle-cli's flash does).
    The target is resolved (``resolve_target``) before any device changes mode."""
    return open_entry(resolve_target(device_id, need_dfu=need_dfu, platform_id=platform_id),
                      need_dfu=need_dfu, reporter=reporter, need_id=need_id)
