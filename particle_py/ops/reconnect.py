"""Finding a board again after it reset or changed mode: the one routine for it.

A board that restarts comes back as a new enumeration (another bus address, often another
mode). It is known by the ids it has shown, and where none can be matched (some bootloaders,
such as the 2015 Photon's, report another serial in DFU mode) by the USB port it is plugged
into: among several candidates the one on the same port (bus and port numbers) wins, and with
one candidate it is taken, wherever it is (a hub may give it a new port).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from particle_py.ops.discovery import UsbEntry, is_full_id, list_devices, release_entry
from particle_py.platforms import Platform

REOPEN_POLL_MS = 500
REOPEN_TIMEOUT_MS = 60_000
RECONNECT_FAILED = "Unable to reconnect to the device. Try again or run particle update to repair the device"


def port_path(usb_device) -> Optional[tuple]:
    """(bus, port numbers): where the device is plugged in; None when the backend cannot tell."""
    ports = getattr(usb_device, "port_numbers", None)
    bus = getattr(usb_device, "bus", None)
    return (bus, tuple(ports)) if ports and bus is not None else None


def bus_address(usb_device) -> tuple:
    return getattr(usb_device, "bus", None), getattr(usb_device, "address", None)


@dataclass(frozen=True)
class Board:
    """A board as it was last seen, to be found again."""
    platform: Optional[Platform]            # None: any platform
    ids: frozenset = frozenset()            # ids that name it; empty: no id to match on
    port: Optional[tuple] = None            # its port_path, the tie-break when there is no id
    left: Optional[tuple] = None            # bus_address of an enumeration that is gone (not it)

    @classmethod
    def of(cls, entry: UsbEntry, ids=None, *, after_reset: bool = False) -> "Board":
        """``entry``'s board, named by ``ids`` (default: its own id, when it shows one);
        ``after_reset``: its present enumeration is not the one to find."""
        names = frozenset(i for i in ({entry.device_id} if ids is None else ids) if i)
        dev = entry.usb_device
        return cls(entry.platform, names, port_path(dev), bus_address(dev) if after_reset else None)

    def could_be(self, entry: UsbEntry) -> bool:
        """Not excluded: of the platform, not the enumeration that left, and showing one of the
        board's ids or no id at all (a bootloader whose serial is not the id, such as the
        2015 Photon's 00000000010C or the Core's, cannot say it is another board)."""
        if self.platform is not None and entry.platform is not self.platform:
            return False
        if self.left is not None and bus_address(entry.usb_device) == self.left:
            return False
        return not self.ids or entry.device_id in self.ids or not shows_id(entry)


def refind(board: Board, *, mode: Optional[str] = None, timeout_ms: int = REOPEN_TIMEOUT_MS,
           poll_ms: int = REOPEN_POLL_MS) -> Optional[UsbEntry]:
    """The board's enumeration in ``mode`` (either mode when None), polling the bus every
    ``poll_ms`` until ``timeout_ms``; None when it did not come. Every other device is released."""
    from particle_py import usb as transport

    waited = 0
    while True:
        entries = list_devices()
        candidates = [e for e in entries if (mode is None or e.mode == mode) and board.could_be(e)]
        found = _best(board, candidates)
        for e in entries:
            if e is not found:
                release_entry(e)
        if found is not None:
            return found
        if waited >= timeout_ms:
            return None
        transport.sleep_ms(poll_ms)
        waited += poll_ms


def shows_id(entry: UsbEntry) -> bool:
    """Whether the enumeration names a board by a full device id (a 2015 Gen2 or Core
    bootloader shows another serial)."""
    return is_full_id(entry.device_id)


def _best(board: Board, candidates: list[UsbEntry]) -> Optional[UsbEntry]:
    """One of the board's ids wins; else the candidate on the board's port; else the only one.
    A board with ids takes an id-less candidate only on its own port (where the backend tells
    ports): another id-less board already in DFU mode elsewhere is not it."""
    if board.ids:
        for e in candidates:
            if e.device_id in board.ids:
                return e
    if board.port is not None:
        for e in candidates:
            if port_path(e.usb_device) == board.port:
                return e
        if board.ids:
            return None
    if board.ids and len(candidates) > 1:
        return None
    return candidates[0] if candidates else None


def named_by(ids) -> frozenset:
    """The ids to match a board on: none when none of them is a full device id (a bootloader's
    serial that is not the id, such as 00000000010C, names no board)."""
    ids = frozenset(ids)
    return ids if any(is_full_id(i) for i in ids) else frozenset()
