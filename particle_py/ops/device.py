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
from particle_py.ops.discovery import DFU_HELP, MODE_DFU, UsbEntry, release_entry, resolve_target
from particle_py.ops.reconnect import RECONNECT_FAILED, Board, refind

def send_control(entry: UsbEntry, req_type: int, payload: bytes = b"", *,
                 may_vanish: bool = False) -> tuple[int, bytes]:
    """A vendor control request to a normal-mode device (``particle_py.control.ControlSession``,
    which follows a request that restarts the device by itself; ``may_vanish`` names those)."""
    from particle_py.control import ControlSession

    reply = ControlSession(entry.usb_device).request(req_type, payload).taken()
    return reply.result, reply.data


def switch_to_dfu(entry: UsbEntry, reporter: events.Reporter = events.QUIET) -> UsbEntry:
    """Ask a normal-mode device to re-enumerate in DFU mode and find it again."""
    from particle_py import control_codes

    if entry.in_dfu:
        return entry
    reporter.step("Switching device to DFU mode")
    device_id, platform = entry.device_id, entry.platform
    # Where the DFU bootloader reports another serial (Core), the platform (and port) has to do.
    by_id = device_id and platform.dfu_serial_is_device_id
    board = Board.of(entry, {device_id} if by_id else ())
    try:
        send_control(entry, control_codes.DFU_MODE, may_vanish=True)
    except ParticlePyError as err:
        release_entry(entry)
        raise ParticlePyError(f"Could not switch the device to DFU mode: {err.message}", DFU_HELP) from None
    release_entry(entry)
    found = refind(board, mode=MODE_DFU)
    if found is None:
        raise ParticlePyError(RECONNECT_FAILED, DFU_HELP)
    return found


def open_entry(entry: UsbEntry, *, need_dfu: bool = True,
               reporter: events.Reporter = events.QUIET) -> ParticleDfuDevice:
    """Open a resolved device, switching it to DFU mode first when ``need_dfu``. ``reporter``
    gets the mode switch as a Step and the session's -v lines as Details."""
    if need_dfu and not entry.in_dfu:
        given = entry.device_id
        entry = switch_to_dfu(entry, reporter)
        if not entry.device_id and given:
            entry.device_id = given
    return ParticleDfuDevice(entry, reporter)


def open_particle_device(device_id: Optional[str] = None, *, need_dfu: bool = True,
                         reporter: events.Reporter = events.QUIET,
                         platform_id: Optional[int] = None) -> ParticleDfuDevice:
    """The single Particle device connected, or the one with this id, in DFU mode when
    ``need_dfu`` (switched by control request if it is running). ``platform_id`` picks the
    one device of that platform when several are attached (as particle-cli's flash does).
    The target is resolved (``resolve_target``) before any device changes mode."""
    return open_entry(resolve_target(device_id, need_dfu=need_dfu, platform_id=platform_id),
                      need_dfu=need_dfu, reporter=reporter)
