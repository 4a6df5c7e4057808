"""Simulated USB devices: DFU 1.1 / DfuSe bootloaders, a DFU run-time device, and Particle
devices in normal mode answering the vendor control protocol. Stdlib only.

Both transports drive these objects through ``control()`` and friends (Contract 1 in
docs/ARCHITECTURE.md): the in-process pyusb backend and the umockdev bridge. A device that
re-enumerates (DETACH + reset, leaving DFU, DFU_MODE ...) sets ``gone`` and ``successor``;
the SimBus then replaces it by a new device on the same port with a new address.

Device-side rules dfu-util depends on (dfu-util.md 5.3) are kept: LANGID 0x0409 at string 0;
the first GETSTATUS after a DfuSe command reports dfuDNBUSY, the next dfuDNLOAD-IDLE/OK;
ABORT -> dfuIDLE; DfuSe block addresses use the descriptor's wTransferSize; a zero-length
DNLOAD is the leave/manifest request.
"""
from __future__ import annotations

import os
import struct
from typing import Optional

from particle_py import control_codes as codes
from . import descriptors as desc_mod
from . import flash as flash_mod
from . import knobs as knobs_mod
from . import layout as layout_mod
from . import profiles as profiles_mod
from . import protection
from . import requests

# libusb error codes (the transports map them to what their clients expect)
LIBUSB_ERROR_IO = -1
LIBUSB_ERROR_ACCESS = -3
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_NOT_FOUND = -5
LIBUSB_ERROR_TIMEOUT = -7
LIBUSB_ERROR_PIPE = -9

LIBUSB_ERROR_NAMES = {
    -1: "LIBUSB_ERROR_IO", -2: "LIBUSB_ERROR_INVALID_PARAM", -3: "LIBUSB_ERROR_ACCESS",
    -4: "LIBUSB_ERROR_NO_DEVICE", -5: "LIBUSB_ERROR_NOT_FOUND", -6: "LIBUSB_ERROR_BUSY",
    -7: "LIBUSB_ERROR_TIMEOUT", -8: "LIBUSB_ERROR_OVERFLOW", -9: "LIBUSB_ERROR_PIPE",
    -10: "LIBUSB_ERROR_INTERRUPTED", -11: "LIBUSB_ERROR_NO_MEM", -12: "LIBUSB_ERROR_NOT_SUPPORTED",
    -99: "LIBUSB_ERROR_OTHER",
}

# DFU requests, states, statuses (DFU 1.1 spec; names as dfu-util prints them)
DFU_DETACH, DFU_DNLOAD, DFU_UPLOAD, DFU_GETSTATUS, DFU_CLRSTATUS, DFU_GETSTATE, DFU_ABORT = range(7)
APP_IDLE, APP_DETACH, DFU_IDLE, DFU_DNLOAD_SYNC, DFU_DNBUSY, DFU_DNLOAD_IDLE = 0, 1, 2, 3, 4, 5
DFU_MANIFEST_SYNC, DFU_MANIFEST, DFU_MANIFEST_WAIT_RESET, DFU_UPLOAD_IDLE, DFU_ERROR = 6, 7, 8, 9, 10
STATUS_OK, ERR_TARGET, ERR_WRITE, ERR_ERASE, ERR_NOTDONE, ERR_UNKNOWN, ERR_STALLEDPKT = 0, 1, 3, 4, 9, 14, 15

DFUSE_SET_ADDRESS, DFUSE_ERASE, DFUSE_READ_UNPROTECT = 0x21, 0x41, 0x92
DFUSE_COMMANDS = bytes([0x00, DFUSE_SET_ADDRESS, DFUSE_ERASE, DFUSE_READ_UNPROTECT])

# Modelled USB cost of a control transfer on full speed: setup/status overhead plus
# 64-byte data packets (a few hundred KB/s in practice, device-behaviour.md 4).
USB_TRANSFER_OVERHEAD_US = 200
USB_PACKET_US = 150


class SimUsbError(Exception):
    """A transfer or call failed the way libusb reports it (``code`` = libusb error code)."""

    def __init__(self, code: int, message: Optional[str] = None):
        self.code = code
        super().__init__(message or LIBUSB_ERROR_NAMES.get(code, f"libusb error {code}"))


class _Stall(Exception):
    """Internal: the device answers this request with STALL."""


def usb_time_us(nbytes: int) -> int:
    return USB_TRANSFER_OVERHEAD_US + ((nbytes + 63) // 64) * USB_PACKET_US


class SimDevice:
    """One attached USB device. Subclasses add the class/vendor protocol."""

    def __init__(self, profile: profiles_mod.Profile, *, bus: int = 1, port_numbers=(2,), devnum: int = 5,
                 unit: int = 0, knobs: Optional[dict] = None, memories: Optional[dict] = None,
                 state_dir: Optional[str] = None):
        self.profile = profile
        self.bus = bus
        self.port_numbers = tuple(port_numbers)
        self.devnum = devnum
        self.unit = unit                              # the physical board: flash follows it
        self.vid, self.pid = profile.vid, profile.pid
        self.knobs = dict(knobs or {})
        self.knobs.update(profile.knobs)
        self.description = profile.description(self.knobs)
        self.state_dir = state_dir
        self.memories = memories if memories is not None else {}
        for mem in self.memories.values():      # a board keeps its flash; the new firmware its rules
            mem.enforce = profile.protect
        self.device_time_us = 0
        self.flash_time_us = 0
        self.log: list = []
        self.transfers = 0
        self.class_requests: dict = {}      # bRequest -> class requests seen (PAUSE_AFTER counts them)
        self._pause_due = None
        self.gone = False
        self.second_device_due = False
        self.successor: Optional[str] = None
        self.claimed: set = set()
        self.alt_settings: dict = {}
        self.is_open = False

    # --- identity ----------------------------------------------------------------------
    @property
    def path(self) -> str:
        return f"{self.bus}-" + ".".join(str(p) for p in self.port_numbers)

    @property
    def serial(self) -> Optional[str]:
        return self.profile.serial

    def __repr__(self) -> str:
        return f"<SimDevice {self.profile.name} {self.vid:04x}:{self.pid:04x} path={self.path} devnum={self.devnum}>"

    def descriptor_bytes(self) -> bytes:
        return desc_mod.sysfs_descriptors(self.description)

    # --- lifecycle ---------------------------------------------------------------------
    def _event(self, name: str, **fields) -> None:
        entry = {"event": name, "path": self.path, "devnum": self.devnum,
                 "id": f"{self.vid:04x}:{self.pid:04x}", "t_us": self.device_time_us}
        entry.update(fields)
        self.log.append(entry)

    def _check_present(self) -> None:
        if self.gone:
            raise SimUsbError(LIBUSB_ERROR_NO_DEVICE)

    def open(self) -> None:
        self._check_present()
        for knob, value in knobs_mod.active(self.knobs, "open"):
            self._event("open", error=value)
            raise SimUsbError(value)
        self.is_open = True
        self._event("open")

    def close(self) -> None:
        self.is_open = False
        self.claimed.clear()

    def claim_interface(self, intf: int) -> None:
        self._check_present()
        if intf not in {a.number for a in self.description.interfaces}:
            raise SimUsbError(LIBUSB_ERROR_NOT_FOUND)
        self.claimed.add(intf)

    def release_interface(self, intf: int) -> None:
        # a device that has just left still gets its release: libusb's error is ignored by callers
        self.claimed.discard(intf)

    def set_interface(self, intf: int, alt: int) -> None:
        self._check_present()
        if not any(a.number == intf and a.alt == alt for a in self.description.interfaces):
            raise SimUsbError(LIBUSB_ERROR_NOT_FOUND)
        self.alt_settings[intf] = alt
        self._event("set_interface", interface=intf, alt=alt)
        self._on_set_interface(intf, alt)

    def _on_set_interface(self, intf: int, alt: int) -> None:
        pass

    def reset(self) -> None:
        self._check_present()
        self._event("reset")
        self._on_reset()

    def _on_reset(self) -> None:
        pass

    def leave_bus(self, successor: Optional[str]) -> None:
        """The device drops off the bus; ``successor`` (a profile string) appears in its place."""
        if not self.gone:
            protection.on_restart(self)         # every departure is the board restarting
            self.gone = True
            self.successor = successor
            self._event("detached", successor=successor)

    # --- control transfers ---------------------------------------------------------------
    def control(self, bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                data: bytes, wLength: int):
        self._check_present()
        data = bytes(data or b"")
        entry = {"event": "control", "path": self.path, "devnum": self.devnum,
                 "id": f"{self.vid:04x}:{self.pid:04x}", "t_us": self.device_time_us,
                 "bmRequestType": bmRequestType, "bRequest": bRequest, "wValue": wValue,
                 "wIndex": wIndex, "wLength": wLength, "data": data.hex() if data else "",
                 "reply": None, "error": None}
        self.log.append(entry)
        self.transfers += 1
        try:
            try:
                self._transfer_faults(bmRequestType, bRequest)
                reply = self._dispatch(bmRequestType, bRequest, wValue, wIndex, data, wLength)
            except _Stall:
                self._on_stall(bmRequestType)
                raise SimUsbError(LIBUSB_ERROR_PIPE)
        except SimUsbError as e:
            entry["error"] = e.code
            raise
        finally:
            moved = len(data) if not bmRequestType & 0x80 else wLength
            self.device_time_us += usb_time_us(moved)
        if self._pause_due is not None:
            self._pause_in_wall_time(self._pause_due)
        if bmRequestType & 0x80:
            reply = bytes(reply or b"")[:wLength]
            entry["reply"] = reply.hex()
            return reply
        return None

    def _transfer_faults(self, bmRequestType: int, bRequest: int) -> None:
        if bmRequestType & 0x60 == 0x20:
            seen = self.class_requests[bRequest] = self.class_requests.get(bRequest, 0) + 1
            for knob, value in knobs_mod.active(self.knobs, "transfer"):
                if knob.effect == "pause_after" and knobs_mod.status_at(value) == (bRequest, seen):
                    self._pause_due = value
        for knob, value in knobs_mod.active(self.knobs, "transfer"):
            if knob.effect == "unplug_after" and self.transfers > value:
                self.leave_bus(None)
                raise SimUsbError(LIBUSB_ERROR_NO_DEVICE)
            if knob.effect == "second_device_after" and self.transfers > value:
                self.second_device_due = True       # the bus plugs it in (once) at its next look
        if bmRequestType & 0x60:            # class or vendor requests only
            for knob, value in knobs_mod.active(self.knobs, "transfer"):
                if knob.effect == "stall_after" and self.transfers > value:
                    raise _Stall()
                if knob.effect == "timeout_after" and self.transfers > value:
                    raise SimUsbError(LIBUSB_ERROR_TIMEOUT)
            for knob, value in knobs_mod.active(self.knobs, "request"):
                if value == bRequest and knob.effect == "stall_request":
                    raise _Stall()
                if value == bRequest and knob.effect == "timeout_request":
                    raise SimUsbError(LIBUSB_ERROR_TIMEOUT)

    def _pause_in_wall_time(self, label: str) -> None:
        """PAUSE_AFTER: the request was carried out; hold its completion until the ``paused`` file is
        gone (a test, having seen it appear, sends a signal at an exactly known step, then removes
        it; at most 60 s). Signals wait for the end, as on hardware, where a signal that arrives
        during a USB transfer is handled when libusb returns."""
        self._pause_due = None
        if not self.state_dir:
            return
        import time

        from .signals import signals_held

        path = os.path.join(self.state_dir, "paused")
        with signals_held():
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"{label} pid={os.getpid()}\n")
            deadline = time.monotonic() + 60
            while os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.005)

    def _on_stall(self, bmRequestType: int) -> None:
        pass

    def _dispatch(self, rt: int, req: int, value: int, index: int, data: bytes, length: int):
        kind = (rt >> 5) & 3
        if kind == 0:
            return self._standard(rt, req, value, index, data, length)
        if kind == 1:
            return self._class_request(rt, req, value, index, data, length)
        if kind == 2:
            return self._vendor_request(rt, req, value, index, data, length)
        raise _Stall()

    def _standard(self, rt, req, value, index, data, length):
        d = self.description
        if req == 6 and rt in (0x80, 0x81):                              # GET_DESCRIPTOR
            dtype, dindex = value >> 8, value & 0xFF
            if dtype == desc_mod.DT_DEVICE:
                return desc_mod.device_descriptor(d)
            if dtype == desc_mod.DT_CONFIG and dindex == 0:
                return desc_mod.configuration_descriptor(d)
            if dtype == desc_mod.DT_STRING:
                s = desc_mod.string_descriptor(d, dindex)
                if s is None:
                    raise _Stall()
                return s
            if dtype == desc_mod.DT_DFU_FUNCTIONAL and d.functional() is not None:
                return self._functional().to_bytes()
            raise _Stall()
        if req == 8 and rt == 0x80:                                      # GET_CONFIGURATION
            return bytes([d.config_value])
        if req == 9 and rt == 0x00:                                      # SET_CONFIGURATION
            if value not in (0, d.config_value):
                raise _Stall()
            return None
        if req == 0 and rt in (0x80, 0x81, 0x82):                        # GET_STATUS
            return b"\x00\x00"
        if req == 11 and rt == 0x01:                                     # SET_INTERFACE
            try:
                self.set_interface(index, value)
            except SimUsbError:
                raise _Stall()
            return None
        if req == 10 and rt == 0x81:                                     # GET_INTERFACE
            return bytes([self.alt_settings.get(index, 0)])
        raise _Stall()

    def _functional(self):
        return self.description.functional()

    def _class_request(self, rt, req, value, index, data, length):
        raise _Stall()

    def _firmware_version(self) -> str:
        """What the device says it runs: a profile's fw= option, else what its flash holds, else
        its generation's usual version (platforms whose Device OS is not modelled)."""
        if self.profile.firmware_version:
            return self.profile.firmware_version
        from particle_py import platforms
        from . import boot
        platform = platforms.by_name(self.profile.platform or "")
        found = boot.device_os_version(self._read_board, platform) if platform else None
        return found or profiles_mod.DEFAULT_FIRMWARE_VERSION.get(platform.generation if platform else 2, "5.8.0")

    def _vendor_request(self, rt, req, value, index, data, length):
        raise _Stall()

    # --- persistence ---------------------------------------------------------------------
    def state(self) -> dict:
        return {}

    def restore(self, state: dict) -> None:
        pass

    def memory(self, alt: int) -> flash_mod.Memory:
        """The flash behind DFU alt ``alt`` of this board (built on first use)."""
        if alt not in self.memories:
            layouts, timings = memory_layouts(self.profile)
            if alt >= len(layouts):
                raise IndexError(f"{self.profile.name} has no alt {alt}")
            lay = layout_mod.parse(layouts[alt])
            path = None
            if self.state_dir:
                path = os.path.join(self.state_dir, f"unit{self.unit}-alt{alt}.bin")
            self.memories[alt] = flash_mod.Memory(
                lay, flash_mod.TIMINGS[timings[alt] if alt < len(timings) else "generic"],
                enforce=self.profile.protect, virtual=lay.name.strip().upper().startswith("DCT"), path=path)
        return self.memories[alt]

    def save_memories(self) -> None:
        for mem in self.memories.values():
            mem.save()

    def _read_board(self, alt: int, address: int, length: int) -> bytes:
        """Raw flash bytes (no access rules), clipped to the alt's map: what firmware sees."""
        mem = self.memory(alt)
        start = max(address, mem.layout.base)
        end = min(address + length, mem.layout.end)
        if end <= start:
            return b""
        return mem.peek(start, end - start)

    def _write_board(self, alt: int, address: int, data: bytes) -> None:
        """Firmware writing its own flash (no DFU access rules): Device OS applying an update."""
        self.memory(alt).poke(address, data)

    def _bootloader_after_write(self, address: int, data: bytes) -> int:
        """What the platform's bootloader does on its own after a write (sim/boot.py); device time."""
        if not self.profile.platform:
            return 0
        from .. import platforms
        from . import boot
        platform = platforms.by_name(self.profile.platform)
        page = boot.page_the_bootloader_invalidates(self._read_board, platform, address, data) if platform else None
        if page is None:
            return 0
        self._event("invalidated", address=page)
        return self.memory(0).erase_page(page).time_us

    def boot_successor(self, normal_spec: Optional[str], dfu_spec: Optional[str]) -> Optional[str]:
        """The device that appears when this board restarts into its firmware: the normal-mode
        device if the flash holds a bootable Device OS (sim/boot.py), else the DFU bootloader."""
        if normal_spec is None or self.profile.boot == "normal" or not self.profile.platform:
            return normal_spec
        from .. import platforms
        from . import boot
        platform = platforms.by_name(self.profile.platform)
        mode, reason = boot.check_firmware(self._read_board, platform)
        # a staged module is Device OS's job: applied only when Device OS starts
        applied = boot.apply_staged(self._read_board, self._write_board, platform) if mode != "dfu" else None
        if applied:
            self._event("staged", result=applied)
            mode, reason = boot.check_firmware(self._read_board, platform)
        self._event("boot", mode=mode, reason=reason)
        if mode != "dfu" and self.state_dir and self.profile.device_id:
            # A device that starts its firmware goes on to connect: the cloud sees it (online or
            # refused) now, as it would a real one, so `device add` right after a restart works.
            view = boot.open_cloud_view(self.state_dir)
            if view is not None:
                boot.boot(platform, self._read_board, self.profile.device_id, view)
        return dfu_spec if mode == "dfu" else normal_spec


def memory_layouts(profile: profiles_mod.Profile):
    """(layout strings, timing names) of the board behind a profile, whatever its mode."""
    if profile.alt_names and profile.kind == "dfuse":
        return profile.alt_names, profile.alt_timings
    if profile.platform:
        from .. import platforms
        p = platforms.by_name(profile.platform)
        return p.dfu_layouts, profiles_mod.ALT_TIMINGS.get(p.mcu, ())
    return (), ()


class DfuDevice(SimDevice):
    """A device in DFU mode: DfuSe (bcdDFU 0x011a) or plain DFU 1.1."""

    def __init__(self, profile, **kw):
        super().__init__(profile, **kw)
        self.dfuse = profile.kind == "dfuse"
        self.state_code = DFU_IDLE
        self.status = STATUS_OK
        self.alt = 0
        self.pointer = self._base(0)
        self.erase_moves_pointer = profiles_mod.erase_moves_pointer(profile)
        self.pending = None                    # operation waiting for the first GETSTATUS
        self.final = (DFU_DNLOAD_IDLE, STATUS_OK)
        self.busy_ms = 0
        self.extra_busy = 0                    # BUSY_POLLS: more dfuDNBUSY answers still to give
        self.busy_stalls = 0                   # BUSY_STALLS: GETSTATUS stalls still to give
        self.data_blocks = 0
        self.leaving = False
        self.download = bytearray()            # plain DFU: the image being received
        self._image_bytes: Optional[bytes] = None   # plain DFU without a state folder
        self._plain_description = self.description
        self.description = protection.described(self, self.description)

    # --- helpers -----------------------------------------------------------------------
    @property
    def transfer_size(self) -> int:
        f = self._functional()
        return f.transfer_size if f else 0

    def _base(self, alt: int) -> int:
        if not self.dfuse:
            return 0
        try:
            return layout_mod.parse(self.profile.alt_names[alt]).base
        except (IndexError, layout_mod.LayoutError):
            return 0

    def _on_set_interface(self, intf: int, alt: int) -> None:
        self.alt = alt
        self.pointer = self._base(alt)

    def _on_stall(self, bmRequestType: int) -> None:
        if bmRequestType & 0x60 == 0x20:        # a stalled DFU class request puts DFU in error
            self.state_code, self.status = DFU_ERROR, ERR_STALLEDPKT

    def _poll_ms(self, time_us: int) -> int:
        forced = knobs_mod.value(self.knobs, "POLL_TIMEOUT")
        if forced is not None:
            return forced
        if self.profile.poll_ms is not None:
            return self.profile.poll_ms
        return max(1, (time_us + 999) // 1000)

    def _image(self) -> bytes:
        """Plain DFU: the firmware an UPLOAD returns (a fixed pattern until something is written)."""
        if self.state_dir:
            path = os.path.join(self.state_dir, f"unit{self.unit}-image.bin")
            if os.path.exists(path):
                with open(path, "rb") as f:
                    return f.read()
        if self._image_bytes is not None:
            return self._image_bytes
        size = knobs_mod.value(self.knobs, "IMAGE_SIZE", self.profile.image_size)
        return bytes((i * 7 + 3) & 0xFF for i in range(size))

    def _store_image(self, image: bytes) -> None:
        self._image_bytes = bytes(image)
        if self.state_dir:
            path = os.path.join(self.state_dir, f"unit{self.unit}-image.bin")
            from .private import write_private
            write_private(path, bytes(image))

    # --- class requests ----------------------------------------------------------------
    def _class_request(self, rt, req, value, index, data, length):
        if index != 0:                          # the DFU interface is interface 0
            raise _Stall()
        if self.state_code == DFU_ERROR and req not in (DFU_GETSTATUS, DFU_CLRSTATUS, DFU_GETSTATE):
            raise _Stall()
        if self.state_code == DFU_MANIFEST_WAIT_RESET and req not in (DFU_GETSTATUS, DFU_GETSTATE):
            raise _Stall()
        if rt == 0x21 and req == DFU_DETACH:
            return None                         # in DFU mode a detach changes nothing
        if self.state_code == DFU_DNBUSY and req in (DFU_DNLOAD, DFU_UPLOAD):
            # the host waited out bwPollTimeout without polling again (dfu-util's :will-reset):
            # the operation has finished by now
            self.state_code, self.status = self.final
        if rt == 0x21 and req == DFU_DNLOAD:
            return self._dnload(value, data)
        if rt == 0xA1 and req == DFU_UPLOAD:
            return self._upload(value, length)
        if rt == 0xA1 and req == DFU_GETSTATUS:
            return self._getstatus()
        if rt == 0x21 and req == DFU_CLRSTATUS:
            if self.state_code == DFU_ERROR:
                self.state_code, self.status = DFU_IDLE, STATUS_OK
            else:                               # ST's firmware: CLRSTATUS outside dfuERROR is an error
                self.state_code, self.status = DFU_ERROR, ERR_UNKNOWN
            return None
        if rt == 0xA1 and req == DFU_GETSTATE:
            return bytes([self.state_code])
        if rt == 0x21 and req == DFU_ABORT:
            if self.state_code in (DFU_IDLE, DFU_DNLOAD_SYNC, DFU_DNLOAD_IDLE, DFU_MANIFEST_SYNC, DFU_UPLOAD_IDLE,
                                   DFU_DNBUSY):
                self.state_code, self.status, self.pending = DFU_IDLE, STATUS_OK, None
                self.leaving = False
                return None
            raise _Stall()
        raise _Stall()

    def _dnload(self, block: int, data: bytes):
        if self.state_code not in (DFU_IDLE, DFU_DNLOAD_IDLE):
            raise _Stall()
        if not self.dfuse:
            for knob, value in knobs_mod.active(self.knobs, "dnload_block"):
                code, at = knobs_mod.status_at(value)
                if at == block:
                    if code == LIBUSB_ERROR_PIPE:
                        self.state_code, self.status = DFU_ERROR, ERR_STALLEDPKT
                    raise SimUsbError(code)
        if not data:                            # leave (DfuSe) / end of download (DFU 1.1)
            if not self.dfuse and self.state_code != DFU_DNLOAD_IDLE:
                raise _Stall()                  # DFU 1.1: nothing was downloaded (errNOTDONE territory)
            self.state_code = DFU_MANIFEST_SYNC
            self.leaving = self.dfuse
            return None
        if self.dfuse and block == 0:
            self._dfuse_command(data)
            return None
        if self.dfuse and block == 1:
            raise _Stall()
        for knob, value in knobs_mod.active(self.knobs, "dnload_data"):
            if knob.effect != "raise":
                continue
            if value == LIBUSB_ERROR_PIPE:
                self.state_code, self.status = DFU_ERROR, ERR_STALLEDPKT
            raise SimUsbError(value)
        if self.dfuse:
            address = self.pointer + (block - 2) * self.transfer_size
            self.pending = ("write", address, data)
        else:
            if block == 0 or self.state_code == DFU_IDLE:
                self.download = bytearray()
            self.pending = ("block", block, data)
        self.state_code = DFU_DNLOAD_SYNC
        return None

    def _dfuse_command(self, data: bytes) -> None:
        cmd = data[0]
        if cmd == DFUSE_SET_ADDRESS and len(data) == 5:
            self.pending = ("set_address", struct.unpack_from("<I", data, 1)[0])
        elif cmd == DFUSE_ERASE and len(data) == 5:
            self.pending = ("erase", struct.unpack_from("<I", data, 1)[0])
        elif cmd == DFUSE_ERASE and len(data) == 1:
            self.pending = ("mass_erase",)
        elif cmd == DFUSE_READ_UNPROTECT and len(data) == 1:
            self.pending = ("unprotect",)
        elif cmd == codes.DFUSE_ENTER_SAFE_MODE and len(data) == 1 and protection.capable(self):
            self.state_code, self.leaving = DFU_MANIFEST_SYNC, True     # leaves as a DfuSe leave does
            return
        elif cmd == codes.DFUSE_CLEAR_SECURITY_MODE_OVERRIDE and len(data) == 1 and protection.capable(self):
            self.pending = ("clear_override",)
        else:
            raise _Stall()
        self.state_code = DFU_DNLOAD_SYNC

    def _run_pending(self):
        """Carry out the operation the last DNLOAD asked for: (status, device time in us)."""
        op, self.pending = self.pending, None
        kind = op[0]
        for knob, value in knobs_mod.active(self.knobs, "pending"):
            status, after = knobs_mod.status_at(value)
            if self.transfers > after:
                return status, 0
        refused = protection.dfu_refusal(self, op) if self.dfuse else None
        if refused is not None:
            return refused, 0
        if kind == "clear_override":
            protection.clear_override(self)
            self.description = protection.described(self, self._plain_description)
            return STATUS_OK, 0
        mem = self.memory(self.alt) if self.dfuse else None
        if kind == "set_address":
            address = op[1]
            if self.profile.protect and not mem.contains(address):
                return ERR_TARGET, 0
            self.pointer = address
            return STATUS_OK, 0
        if kind == "erase":
            result = mem.erase_page(op[1])
            if self.erase_moves_pointer:
                self.pointer = op[1]
            for knob, value in knobs_mod.active(self.knobs, "erase"):
                return value, result.time_us
            return result.status, result.time_us
        if kind == "mass_erase":
            result = mem.mass_erase()
            for knob, value in knobs_mod.active(self.knobs, "erase"):
                return value, result.time_us
            return result.status, result.time_us
        if kind == "unprotect":
            # the STM32 erases everything and resets right after acknowledging
            result = mem.mass_erase()
            return result.status, result.time_us
        if kind == "write":
            self.data_blocks += 1
            if self.data_blocks == 1:
                for knob, value in knobs_mod.active(self.knobs, "write"):
                    return value, 0
            result = mem.program(op[1], op[2])
            for knob, weak in knobs_mod.active(self.knobs, "program"):
                if result.status == STATUS_OK and op[1] <= weak < op[1] + len(op[2]):
                    mem.poke(weak, bytes([mem.peek(weak, 1)[0] ^ 0x01]))
            if result.status == STATUS_OK and self.alt == 0:
                return result.status, result.time_us + self._bootloader_after_write(op[1], op[2])
            return result.status, result.time_us
        if kind == "block":
            self.data_blocks += 1
            if self.data_blocks == 1:
                for knob, value in knobs_mod.active(self.knobs, "write"):
                    return value, 0
            self.download += op[2]
            return STATUS_OK, flash_mod.TIMINGS["generic"].program_us(len(op[2]))
        return ERR_UNKNOWN, 0

    def _status_reply(self, poll_ms: int = 0, state: Optional[int] = None, status: Optional[int] = None) -> bytes:
        st = self.state_code if state is None else state
        code = self.status if status is None else status
        return bytes([code]) + poll_ms.to_bytes(3, "little") + bytes([st, 0])

    def _getstatus(self) -> bytes:
        if self.state_code == DFU_DNLOAD_SYNC and self.pending is not None:
            is_command = self.pending[0] in ("set_address", "erase", "mass_erase", "unprotect", "clear_override")
            unprotect = self.pending[0] == "unprotect"
            status, time_us = self._run_pending()
            if status == codes.DFU_PROTECTED_STATUS:     # a protected bootloader refuses at once
                self.state_code, self.status = DFU_ERROR, status
                return self._status_reply()
            self.device_time_us += time_us
            self.flash_time_us += time_us
            final = (DFU_DNLOAD_IDLE, STATUS_OK) if status == STATUS_OK else (DFU_ERROR, status)
            if unprotect:
                reply = self._status_reply(self._poll_ms(time_us), DFU_DNBUSY, STATUS_OK)
                self.leave_bus(self.profile.after_unprotect)
                return reply
            if is_command and knobs_mod.value(self.knobs, "NO_DNBUSY"):
                self.state_code, self.status = final
                return self._status_reply()
            self.final = final
            self.busy_ms = self._poll_ms(time_us)
            self.state_code = DFU_DNBUSY
            self.extra_busy = knobs_mod.value(self.knobs, "BUSY_POLLS", 0)
            self.busy_stalls = knobs_mod.value(self.knobs, "BUSY_STALLS", 0) if is_command else 0
            return self._status_reply(self.busy_ms)
        if self.state_code == DFU_DNBUSY:
            if self.busy_stalls > 0:            # STM32L4 habit: GETSTATUS stalls while it erases
                self.busy_stalls -= 1
                raise SimUsbError(LIBUSB_ERROR_PIPE)
            if self.extra_busy > 0:
                self.extra_busy -= 1
                return self._status_reply(self.busy_ms)
            self.state_code, self.status = self.final
            return self._status_reply()
        if self.state_code == DFU_MANIFEST_SYNC and self.leaving:
            return self._leave_status()
        if self.state_code == DFU_MANIFEST_SYNC:
            return self._manifest_status()
        if self.state_code == DFU_MANIFEST:
            tolerant = self._functional().attributes & desc_mod.MANIFESTATION_TOLERANT
            self.state_code = DFU_IDLE if tolerant else DFU_MANIFEST_WAIT_RESET
            self.data_blocks = 0
            return self._status_reply()
        return self._status_reply()

    def _manifest_status(self) -> bytes:
        """Plain DFU: the first GETSTATUS after the zero-length DNLOAD starts manifestation."""
        failed = knobs_mod.value(self.knobs, "MANIFEST_STATUS")
        if failed is not None:
            self.state_code, self.status = DFU_ERROR, failed
            return self._status_reply()
        self._store_image(bytes(self.download))
        error = knobs_mod.value(self.knobs, "MANIFEST_ERR")
        if error is not None:
            if error == LIBUSB_ERROR_PIPE:
                self.state_code, self.status = DFU_ERROR, ERR_STALLEDPKT
            else:                       # it reset itself to run the new image
                self.state_code = DFU_IDLE
                self.leave_bus(profiles_mod.successor_spec(self.profile, self.profile.spec or self.profile.name))
            raise SimUsbError(error)
        self.state_code = DFU_MANIFEST
        reply = self._status_reply(self._poll_ms(0))
        return reply[:knobs_mod.value(self.knobs, "MANIFEST_SHORT", len(reply))]

    def _leave_successor(self) -> Optional[str]:
        normal = profiles_mod.successor_spec(self.profile, self.profile.after_leave)
        return self.boot_successor(normal, self.profile.spec or self.profile.name)

    def _leave_status(self) -> bytes:
        """The GETSTATUS after a DfuSe leave request: the device jumps to its application."""
        successor = self._leave_successor()
        self.save_memories()
        for knob, value in knobs_mod.active(self.knobs, "leave_status"):
            if knob.effect == "raise":
                self.leave_bus(successor)
                raise SimUsbError(value)
        forced = knobs_mod.value(self.knobs, "LEAVE_STATE")
        habit = self.profile.leave
        if forced is None and habit == "reset":
            self.leave_bus(successor)
            raise SimUsbError(LIBUSB_ERROR_IO)
        state = forced if forced is not None else (DFU_DNLOAD_IDLE if habit == "dnidle" else DFU_MANIFEST)
        reply = self._status_reply(0, state, STATUS_OK)
        self.leave_bus(successor)
        return reply

    def _upload(self, block: int, length: int) -> bytes:
        if self.state_code not in (DFU_IDLE, DFU_UPLOAD_IDLE):
            raise _Stall()
        if self.dfuse and block == 0:
            self.state_code = DFU_UPLOAD_IDLE
            return protection.dfuse_commands(self, DFUSE_COMMANDS)
        if self.dfuse and block == 1:
            raise _Stall()
        if self.dfuse and protection.state(self) == "protected":
            self.state_code, self.status = DFU_ERROR, codes.DFU_PROTECTED_STATUS
            return b""
        for knob, value in knobs_mod.active(self.knobs, "upload_data"):
            if knob.effect == "raise" or (knob.effect == "raise_at" and not self.dfuse
                                          and knobs_mod.status_at(value)[1] == block):
                code = value if knob.effect == "raise" else knobs_mod.status_at(value)[0]
                if code == LIBUSB_ERROR_PIPE:
                    self.state_code, self.status = DFU_ERROR, ERR_STALLEDPKT
                raise SimUsbError(code)
        if self.dfuse:
            address = self.pointer + (block - 2) * self.transfer_size
            chunk = self.memory(self.alt).read(address, length)
            if chunk is None:
                raise _Stall()
        else:
            # blocks are addressed by the descriptor's wTransferSize, whatever the host asks for
            offset = block * self.transfer_size
            sent = min(length, knobs_mod.value(self.knobs, "UPLOAD_MAX", length))
            short, at = knobs_mod.status_at(knobs_mod.value(self.knobs, "UPLOAD_SHORT", "-1@-1"))
            if at == block:
                sent = min(sent, short)
            chunk = self._image()[offset:offset + sent]
        # a packet shorter than asked ends the upload (DFU 1.1: back to dfuIDLE)
        self.state_code = DFU_UPLOAD_IDLE if len(chunk) == length else DFU_IDLE
        return chunk

    def _on_reset(self) -> None:
        if self.state_code == DFU_MANIFEST_SYNC and self.leaving:
            self.save_memories()
            self.leave_bus(self._leave_successor())
            return
        if knobs_mod.value(self.knobs, "RESET_REENUMERATES"):
            self.save_memories()
            self.leave_bus(profiles_mod.successor_spec(self.profile, self.profile.spec or self.profile.name))
        # A USB reset puts a DFU-mode device back to dfuIDLE (manifestation done, if any).
        self.state_code, self.status, self.pending, self.leaving = DFU_IDLE, STATUS_OK, None, False
        self.data_blocks = 0

    # --- persistence -------------------------------------------------------------------
    def state(self) -> dict:
        return {"state": self.state_code, "status": self.status, "alt": self.alt, "pointer": self.pointer,
                "data_blocks": self.data_blocks}

    def restore(self, state: dict) -> None:
        # A new process starts a new USB session: transient request state does not survive,
        # except an error or an unfinished transfer the device itself would remember.
        self.state_code = state.get("state", DFU_IDLE)
        self.status = state.get("status", STATUS_OK)
        if self.state_code in (DFU_DNLOAD_SYNC, DFU_DNBUSY):
            self.state_code = DFU_DNLOAD_IDLE
        self.alt = state.get("alt", 0)
        self.pointer = state.get("pointer", self._base(self.alt))
        self.data_blocks = state.get("data_blocks", 0)


class RuntimeDevice(SimDevice):
    """A device running its application with a DFU run-time interface."""

    def __init__(self, profile, **kw):
        super().__init__(profile, **kw)
        self.state_code = APP_IDLE

    def _class_request(self, rt, req, value, index, data, length):
        if index != self.profile.runtime_interface:
            raise _Stall()
        if rt == 0x21 and req == DFU_DETACH:
            self.state_code = APP_DETACH
            return None
        if rt == 0xA1 and req == DFU_GETSTATUS:
            return bytes([STATUS_OK, 0, 0, 0, self.state_code, 0])
        if rt == 0xA1 and req == DFU_GETSTATE:
            return bytes([self.state_code])
        raise _Stall()

    def _on_reset(self) -> None:
        if self.state_code == APP_DETACH and self.profile.after_detach:
            self.leave_bus(profiles_mod.successor_spec(self.profile, self.profile.after_detach))
        self.state_code = APP_IDLE

    def state(self) -> dict:
        return {"state": self.state_code}

    def restore(self, state: dict) -> None:
        self.state_code = state.get("state", APP_IDLE)


# --- Particle vendor control protocol (particle-usb src/proto.js) --------------------------
# The exchange's numbers, the request numbers, results and modes: particle_py.control_codes;
# what each request does: requests.py.


def encode_reply(status: int, req_id: Optional[int] = None, size: Optional[int] = None,
                 result: Optional[int] = None) -> bytes:
    flags = codes.FIELD_STATUS
    body = struct.pack("<H", status)
    if req_id is not None:
        flags |= codes.FIELD_ID
        body += struct.pack("<H", req_id)
    if size is not None:
        flags |= codes.FIELD_SIZE
        body += struct.pack("<I", size)
    if result is not None:
        flags |= codes.FIELD_RESULT
        body += struct.pack("<i", result)
    return struct.pack("<I", flags) + body


class NormalModeDevice(SimDevice):
    """A Particle device running Device OS: vendor control requests over endpoint 0."""

    def __init__(self, profile, **kw):
        super().__init__(profile, **kw)
        self._mode = None                      # known once read (a fresh boot reads its DCT)
        # a fresh boot: the bootloader takes (and clears) a safe-mode request; restore() says
        # what a device saved in this boot already had
        from . import boot
        self.safe_mode = boot.take_safe_mode_request(self.state_dir, self.unit)
        self.requests: dict = {}               # id -> {"type", "size", "data", "done", "result", "reply"}
        self.next_id = 1
        self.after_reply = None                # a re-enumeration to do once the result is read

    @property
    def mode(self) -> int:
        if self._mode is None:
            self._mode = codes.MODE_LISTENING if self.setup_pending() else codes.MODE_NORMAL
        return self._mode

    @mode.setter
    def mode(self, value: int) -> None:
        self._mode = value

    def setup_pending(self) -> bool:
        """A Device OS that keeps the setup-done flag finds it unset (sim/boot.py)."""
        from .. import platforms
        from . import boot
        platform = platforms.by_name(self.profile.platform or "")
        if platform is None or platform.mcu not in boot.SETUP_DONE_MCUS:
            return False
        return boot.setup_pending(self._read_board, platform, self.running_version())

    def running_version(self) -> str:
        """The Device OS version this device runs: what it reports, and what decides which
        control requests it answers and in which format."""
        return self._installed_release() or self._firmware_version()

    def _installed_release(self) -> Optional[str]:
        """The pinned Device OS release whose system parts the flash holds (what Device OS
        reports as its version after an update), else None (the profile's version stands)."""
        from .. import platforms
        from . import boot

        platform = platforms.by_name(self.profile.platform or "")
        if platform is None or not platform.system_parts:
            return None
        held = set()
        for address in platform.system_parts:
            module, _why = boot.read_module(self._read_board, platform, address)
            if module is None:
                return None
            held.add((module.index, module.version))
        from ..release_table import RELEASES     # generated data, no client code

        for version, per_platform in RELEASES.items():
            release = per_platform.get(platform.name)
            if release and held == {(m["index"], m["module_version"]) for m in release["modules"]
                                    if m["function"] == "system part"}:
                return version
        return None

    def _process(self, req: dict) -> None:
        handler = requests.handlers(self).get(req["type"])
        refused = protection.refusal(self, req["type"])
        if refused is not None:
            req["result"], req["reply"] = refused, b""
        elif handler is None:
            req["result"], req["reply"] = codes.RESULT_NOT_SUPPORTED, b""
        else:
            req["result"], req["reply"] = handler(bytes(req["data"]))
        req["done"] = True

    def _finish_request(self) -> None:
        if self.after_reply is not None:
            successor, self.after_reply = self.after_reply, None
            self.save_memories()
            self.leave_bus(successor)

    def _vendor_request(self, rt, req, value, index, data, length):
        if rt == 0xC0 and req == codes.LEGACY_BREQUEST and index == codes.LEGACY_GET_SYSTEM_VERSION:
            # after an update Device OS reports the pinned release its system parts are
            return self.running_version().encode()
        if rt == 0xC0 and req == codes.SERVICE_INIT:
            req_id = self.next_id
            self.next_id = self.next_id % 0xFFFF + 1
            entry = {"type": index, "size": value, "data": bytearray(), "done": False, "result": None, "reply": b""}
            self.requests[req_id] = entry
            if value == 0:
                self._process(entry)
            return encode_reply(codes.STATUS_OK, req_id=req_id)
        if rt == 0x40 and req == codes.SERVICE_SEND:
            entry = self.requests.get(index)
            if entry is None:
                raise _Stall()
            entry["data"] += data
            if len(entry["data"]) >= entry["size"]:
                self._process(entry)
            return None
        if rt == 0xC0 and req == codes.SERVICE_CHECK:
            entry = self.requests.get(index)
            if entry is None:
                return encode_reply(codes.STATUS_NOT_FOUND)
            if not entry["done"]:
                return encode_reply(codes.STATUS_PENDING)
            reply = encode_reply(codes.STATUS_OK, size=len(entry["reply"]) or None, result=entry["result"])
            if not entry["reply"]:
                del self.requests[index]
                self._finish_request()
            return reply
        if rt == 0xC0 and req == codes.SERVICE_RECV:
            entry = self.requests.pop(index, None)
            if entry is None or not entry["done"]:
                raise _Stall()
            self._finish_request()
            return entry["reply"]
        if rt == 0xC0 and req == codes.SERVICE_RESET:
            if index == 0:
                self.requests.clear()
            else:
                self.requests.pop(index, None)
            return encode_reply(codes.STATUS_OK)
        raise _Stall()

    def state(self) -> dict:
        return {"mode": self.mode, **({"safe_mode": True} if self.safe_mode else {})}

    def restore(self, state: dict) -> None:
        self.mode = state.get("mode", codes.MODE_NORMAL)
        self.safe_mode = bool(state.get("safe_mode", False))


KIND_CLASSES = {"dfuse": DfuDevice, "dfu11": DfuDevice, "runtime": RuntimeDevice, "normal": NormalModeDevice}


def make_device(profile: profiles_mod.Profile, **kw) -> SimDevice:
    return KIND_CLASSES[profile.kind](profile, **kw)
