"""The DFU / DfuSe protocol engine (a library: it never prints).

``DfuDevice`` speaks the class requests on one interface of an opened pyusb device.
``Dfuse`` runs dfu-util's DfuSe algorithms on top of it (special commands with GETSTATUS
polling that honours bwPollTimeout, erase planning, chunked download, upload, leave);
``dfu_download`` / ``dfu_upload`` are plain DFU 1.1 transfers; ``settle`` is dfu-util's
"determining device status" loop (clear dfuERROR, abort an unfinished transfer).

Everything a user could be told is reported through ``emit(kind, **fields)`` at the point
where dfu-util prints it; failures raise ``DfuError`` with a ``key`` (and ``args``) so each
front end can word them its own way. ``Behaviour`` holds the few places where dfu-util
releases differ in what they *do* (not in what they print).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import EX_IOERR, EX_PROTOCOL, EX_SOFTWARE, EX_USAGE, ParticlePyError, UsbError, deferred_interrupts
from . import protocol as p
from .layout import MemoryLayout

# Default wording (dfu-util 0.11) and exit status of every failure the engine reports.
ERRORS = {
    "get_status": ('error get_status: %s', EX_IOERR),
    "clear_status": ("error clear_status", EX_IOERR),
    "abort": ("can't send DFU_ABORT", EX_IOERR),
    "usb_communication": ("USB communication error", EX_IOERR),
    "still_runtime": ("Device still in Run-Time Mode!", EX_PROTOCOL),
    "status_not_ok": ("Status is not OK: %d", EX_PROTOCOL),
    "special_download": ('Error during special command "%s" download', EX_IOERR),
    "special_get_status": ('Error during special command "%s" get_status', EX_IOERR),
    "wrong_state": ('Wrong state after command "%s" download', EX_PROTOCOL),
    "not_executed": ("%s not correctly executed", EX_IOERR),
    "device_stuck": ("Device stuck after special command request", EX_IOERR),
    "cannot_erase": ("Page at 0x%08x can not be erased", EX_USAGE),
    "last_page_not_writeable": ("Last page at 0x%08x is not writeable", EX_USAGE),
    "page_not_writeable": ("Page at 0x%08x is not writeable", EX_USAGE),
    "page_not_readable": ("Page at 0x%08x is not readable", EX_USAGE),
    "dfuse_download": ("Error during download", EX_IOERR),          # args: (libusb code,)
    "dfuse_upload": ("dfuse_upload: libusb_control_transfer returned %d", EX_IOERR),
    "download_get_status": ("Error during download get_status", EX_IOERR),
    "whole_chunk": ("Failed to write whole chunk: %i of %i bytes", EX_IOERR),
    "abort_request": ("Error sending dfu abort request", EX_IOERR),
    "abort_get_status": ("Error during abort get_status", EX_IOERR),
    "abort_not_idle": ("Failed to enter idle state on abort", EX_IOERR),
    "mass_erase_needs_force": ("The mass erase command can only be used with force", EX_USAGE),
    "unprotect_needs_force": ("The read unprotect command will erase the flash memoryand can only be used "
                              "with force\n", EX_USAGE),
    "dfu_download": ("Error during download (%s)", EX_IOERR),       # plain DFU, args: (code,)
    "dfu_download_status": ("Error during download get_status (%s)", EX_IOERR),
    "dfu_download_failed": ("Download failed", EX_IOERR),           # bad status, already reported
    "completion_packet": ("Error sending completion packet (%s)", EX_IOERR),
    "too_many_bytes": ("Received too many bytes", EX_SOFTWARE),
}


class DfuError(ParticlePyError):
    """A DFU operation failed; ``key`` names the failure (see ERRORS), ``args`` its values."""

    def __init__(self, key: str, *args, libusb_code: Optional[int] = None):
        text, code = ERRORS[key]
        shown = tuple(p.libusb_error_name(a) if key in ("get_status",) and isinstance(a, int) else a for a in args)
        # a message takes as many values as it has fields (special_download also carries the code)
        fields = text.count("%") - 2 * text.count("%%")
        try:
            message = text % shown[:fields] if fields else text
        except TypeError:
            message = text
        super().__init__(message.rstrip("\n"), None, code)
        self.key = key
        self.args_ = args
        self.libusb_code = libusb_code


class TransferError(UsbError):
    """A control transfer failed with a libusb error code."""

    def __init__(self, code: int):
        super().__init__(f"USB transfer failed: {p.libusb_error_name(code)}", p.libusb_error_name(code),
                         libusb_code=code)
        self.code = code


@dataclass(frozen=True)
class Behaviour:
    """What differs between dfu-util releases in the protocol itself. Defaults: 0.11."""
    two_pass_erase: bool = True          # 0.10+: erase every page first, then write; 0.8/0.9 interleave
    force_skips_checks: bool = True      # 0.10+: 'force' also allows writing outside writeable pages
    leave_always_sets_address: bool = False   # 0.8/0.9: SET_ADDRESS before leave even without an address
    stall_retries: int = 3               # 0.10+: GETSTATUS stalls tolerated while a command runs (STM32L4)
    stuck_after_zero_polls: Optional[int] = 100   # 0.10+: Black Magic Probe guard
    mass_erase_timeout_fix: bool = True  # 0.9+: STM32F405 reports 100 ms for a mass erase


def _nothing(*_args, **_kw) -> None:
    return None


class DfuDevice:
    """DFU class requests on ``interface`` of an opened pyusb ``device``."""

    def __init__(self, device, interface: int = 0, *, sleep_ms: Optional[Callable[[int], None]] = None,
                 timeout_ms: int = p.TIMEOUT_MS, quirks: frozenset = frozenset()):
        self.device = device
        self.interface = interface
        self.timeout_ms = timeout_ms
        self.quirks = quirks
        self._sleep = sleep_ms or _default_sleep

    # --- raw requests -------------------------------------------------------------------
    def _out(self, request: int, value: int, data: bytes = b"") -> int:
        try:
            return self.device.ctrl_transfer(p.REQ_OUT, request, value, self.interface, bytes(data),
                                             timeout=self.timeout_ms)
        except Exception as exc:
            raise TransferError(p.libusb_code(exc)) from exc

    def _in(self, request: int, value: int, length: int) -> bytes:
        try:
            return bytes(self.device.ctrl_transfer(p.REQ_IN, request, value, self.interface, length,
                                                   timeout=self.timeout_ms))
        except Exception as exc:
            raise TransferError(p.libusb_code(exc)) from exc

    def get_status(self) -> p.DfuStatus:
        status = p.parse_status(self._in(p.GETSTATUS, 0, 6))
        if p.QUIRK_POLLTIMEOUT in self.quirks:
            status = p.DfuStatus(status.status, p.DEFAULT_POLLTIMEOUT_MS, status.state, status.istring)
        return status

    def clear_status(self) -> None:
        self._out(p.CLRSTATUS, 0)

    def abort(self) -> None:
        self._out(p.ABORT, 0)

    def detach(self, timeout_ms: int = 1000) -> None:
        self._out(p.DETACH, timeout_ms)

    def download(self, block: int, data: bytes) -> int:
        return self._out(p.DNLOAD, block, data)

    def upload(self, block: int, length: int) -> bytes:
        return self._in(p.UPLOAD, block, length)

    def sleep_ms(self, ms: int) -> None:
        if ms > 0:
            self._sleep(ms)

    # --- handle-level operations (return 0 or a libusb error code, like libusb) ---------
    def claim(self) -> int:
        return _code_of(lambda: self.device._ctx.managed_claim_interface(self.device, self.interface))

    def release(self) -> int:
        return _code_of(lambda: self.device._ctx.managed_release_interface(self.device, self.interface))

    def set_alt(self, alt: int) -> int:
        return _code_of(lambda: self.device.set_interface_altsetting(self.interface, alt))

    def reset(self) -> int:
        return _code_of(self._reset_keeping_claim)

    def _reset_keeping_claim(self) -> None:
        """libusb_reset_device with the interface still claimed, as dfu-util calls it: libusb then
        re-claims it and reports a device that re-enumerated as NOT_FOUND. pyusb's Device.reset()
        releases the interface first, which hides that (and changes dfu-util 0.11's exit status)."""
        ctx = getattr(self.device, "_ctx", None)
        if ctx is None or getattr(ctx, "handle", None) is None:
            self.device.reset()
            return
        ctx.backend.reset_device(ctx.handle)


def _code_of(action) -> int:
    try:
        action()
        return 0
    except Exception as exc:
        return p.libusb_code(exc)


def _default_sleep(ms: int) -> None:
    try:
        from .. import usb as transport
        sleeper = getattr(transport, "sleep_ms", None)
    except ImportError:       # pragma: no cover - the transport package always exists
        sleeper = None
    if sleeper is not None:
        sleeper(ms)
    else:
        import time
        time.sleep(ms / 1000.0)


# --- the "determining device status" loop ---------------------------------------------------
def settle(dfu: DfuDevice, emit: Callable = _nothing) -> p.DfuStatus:
    """Bring a DFU-mode interface to dfuIDLE: clear dfuERROR, abort unfinished transfers."""
    while True:
        emit("determining_status")
        try:
            status = dfu.get_status()
        except TransferError as exc:
            raise DfuError("get_status", exc.code, libusb_code=exc.code) from exc
        emit("status", status=status)
        dfu.sleep_ms(status.poll_timeout)
        if status.state in (p.APP_IDLE, p.APP_DETACH):
            raise DfuError("still_runtime")
        if status.state == p.DFU_ERROR:
            emit("clearing_status")
            try:
                dfu.clear_status()
            except TransferError as exc:
                raise DfuError("clear_status", libusb_code=exc.code) from exc
            continue
        if status.state in (p.DFU_DNLOAD_IDLE, p.DFU_UPLOAD_IDLE):
            emit("aborting_transfer")
            try:
                dfu.abort()
            except TransferError as exc:
                raise DfuError("abort", libusb_code=exc.code) from exc
            continue
        if status.state == p.DFU_IDLE:
            emit("status_idle")
        break
    if status.status != p.STATUS_OK:
        emit("status_warning", status=status)
        try:
            dfu.clear_status()
            status = dfu.get_status()
        except TransferError as exc:
            raise DfuError("usb_communication", libusb_code=exc.code) from exc
        if status.status != p.STATUS_OK:
            raise DfuError("status_not_ok", status.status)
        dfu.sleep_ms(status.poll_timeout)
    return status


# --- DfuSe -----------------------------------------------------------------------------------
_COMMAND_BYTES = {p.SET_ADDRESS: 0x21, p.ERASE_PAGE: 0x41, p.MASS_ERASE: 0x41, p.READ_UNPROTECT: 0x92}


class Dfuse:
    """dfu-util's DfuSe routines on one DfuDevice.

    ``layout`` is the memory layout of the current alt setting (may be swapped between
    elements); ``force``/``mass_erase``/``will_reset`` are the -s modifiers that change how
    downloads run.
    """

    def __init__(self, dfu: DfuDevice, transfer_size: int, layout: Optional[MemoryLayout] = None, *,
                 emit: Callable = _nothing, behaviour: Behaviour = Behaviour(), force: int = 0,
                 mass_erase: bool = False, will_reset: bool = False):
        self.dfu = dfu
        self.transfer_size = transfer_size
        self.layout = layout
        self.emit = emit
        self.behaviour = behaviour
        self.force = force
        self.mass_erase_done = mass_erase
        self.will_reset = will_reset
        self.last_erased_page = 1      # not page aligned: matches no page

    # --- special commands -------------------------------------------------------------------
    # A request and the GETSTATUS polls that finish it are one step: a signal waits for its end,
    # so an interrupted write leaves the device idle between blocks, never busy mid-request.
    @deferred_interrupts()
    def special_command(self, address: int, command: str) -> None:
        if command == p.ERASE_PAGE:
            seg = self.layout.find(address) if self.layout else None
            if seg is None or not seg.erasable:
                raise DfuError("cannot_erase", address)
            page_start = seg.page_start(address)
            self.emit("erase_page", page_size=seg.page_size, address=address, page_start=page_start)
            self.last_erased_page = page_start
        elif command == p.SET_ADDRESS:
            self.emit("set_address", address=address)
        payload = bytes([_COMMAND_BYTES[command]])
        if command in (p.SET_ADDRESS, p.ERASE_PAGE):
            payload += struct.pack("<I", address & 0xFFFFFFFF)
        try:
            self.dfu.download(0, payload)
        except TransferError as exc:
            raise DfuError("special_download", command, exc.code, libusb_code=exc.code) from exc
        first = True
        stalls = 0
        zero_polls = 0
        while True:
            try:
                status = self.dfu.get_status()
            except TransferError as exc:
                if command == p.READ_UNPROTECT:
                    return          # the device may already be resetting
                if exc.code == p.LIBUSB_ERROR_PIPE and not first and stalls < self.behaviour.stall_retries:
                    stalls += 1
                    continue
                raise DfuError("special_get_status", command, libusb_code=exc.code) from exc
            if first:
                first = False
                if status.state != p.DFU_DNBUSY:
                    self.emit("command_state", status=status)
                    raise DfuError("wrong_state", command)
                if command == p.MASS_ERASE and status.poll_timeout == 100 and self.behaviour.mass_erase_timeout_fix:
                    timeout = 35000
                    self.emit("mass_erase_timeout", seconds=35)
                else:
                    timeout = status.poll_timeout
            else:
                timeout = status.poll_timeout
            self.emit("poll_timeout", ms=timeout)
            if timeout == 0 and self.behaviour.stuck_after_zero_polls is not None:
                zero_polls += 1
                if zero_polls > self.behaviour.stuck_after_zero_polls:
                    raise DfuError("device_stuck")
            self.dfu.sleep_ms(timeout)
            if command == p.READ_UNPROTECT:
                return
            if status.state != p.DFU_DNBUSY:
                break
        if status.status != p.STATUS_OK:
            raise DfuError("not_executed", command)

    def set_address(self, address: int) -> None:
        self.special_command(address, p.SET_ADDRESS)

    def erase_page(self, address: int) -> None:
        self.special_command(address, p.ERASE_PAGE)

    def mass_erase(self) -> None:
        self.special_command(0, p.MASS_ERASE)
        self.mass_erase_done = True

    def unprotect(self) -> None:
        self.special_command(0, p.READ_UNPROTECT)

    # --- data ------------------------------------------------------------------------------
    @deferred_interrupts()
    def download_chunk(self, data: bytes, block: int = 2) -> int:
        """One DNLOAD and its GETSTATUS polling; the bytes sent, or -1 on a bad status."""
        try:
            sent = self.dfu.download(block, data)
        except TransferError as exc:
            raise DfuError("dfuse_download", exc.code, libusb_code=exc.code) from exc
        while True:
            try:
                status = self.dfu.get_status()
            except TransferError as exc:
                raise DfuError("download_get_status", libusb_code=exc.code) from exc
            self.dfu.sleep_ms(status.poll_timeout)
            if status.state in (p.DFU_DNLOAD_IDLE, p.DFU_ERROR, p.DFU_MANIFEST):
                break
            if self.will_reset and status.state == p.DFU_DNBUSY:
                break
        if status.state == p.DFU_MANIFEST:
            self.emit("manifest_transition")
        if status.status != p.STATUS_OK:
            self.emit("chunk_failed", status=status)
            return -1
        return sent

    def _erase_for_chunk(self, seg, address: int, chunk_size: int) -> None:
        page = seg.page_size
        erase_at = address
        while erase_at < address + chunk_size:
            if seg.page_start(erase_at) != self.last_erased_page:
                self.erase_page(erase_at)
            erase_at += page
        last = address + chunk_size - 1
        if seg.page_start(last) != self.last_erased_page:
            self.emit("chunk_extends")
            self.erase_page(last)

    def download_element(self, address: int, data: bytes) -> None:
        """Write ``data`` at ``address``, erasing the pages it touches first (unless mass erased)."""
        size = len(data)
        xfer = self.transfer_size
        force_ok = self.force and self.behaviour.force_skips_checks
        last = self.layout.find(address + size - 1) if self.layout else None
        if not force_ok and (last is None or not last.writeable):
            raise DfuError("last_page_not_writeable", (address + size - 1) & 0xFFFFFFFF)
        if not self.behaviour.two_pass_erase:
            self._download_interleaved(address, data)
            return
        self.emit("progress", label="Erase   ", curr=0, max=1, site="erase_start")
        for offset in range(0, size, xfer):
            at = address + offset
            seg = self.layout.find(at) if self.layout else None
            if not force_ok and (seg is None or not seg.writeable):
                raise DfuError("page_not_writeable", at)
            if seg is None:
                continue     # outside the map (force): no page size known, so no erase
            chunk_size = min(xfer, size - offset)
            if seg.erasable and not self.mass_erase_done:
                self._erase_for_chunk(seg, at, chunk_size)
                self.emit("progress", label="Erase   ", curr=offset, max=size, site="erase_chunk")
        self.emit("progress", label="Erase   ", curr=size, max=size, site="erase_end")
        for offset in range(0, size, xfer):
            self._write_chunk(address, offset, data[offset:offset + xfer], size)
        self.emit("progress", label="Download", curr=size, max=size, site="dl_end")

    def _write_chunk(self, address: int, offset: int, chunk: bytes, size: int) -> None:
        """SET_ADDRESS to the chunk, then DNLOAD block 2 (dfu-util re-sets the pointer every chunk)."""
        at = address + offset
        self.emit("chunk", offset=offset, start=at, end=at + len(chunk) - 1, size=len(chunk))
        self.emit("progress", label="Download", curr=offset, max=size, site="dl_chunk")
        self.set_address(at)
        sent = self.download_chunk(chunk)
        if sent != len(chunk):
            raise DfuError("whole_chunk", sent, len(chunk))

    def _download_interleaved(self, address: int, data: bytes) -> None:
        """0.8/0.9: erase and write chunk by chunk."""
        size = len(data)
        xfer = self.transfer_size
        self.emit("progress", label="Download", curr=0, max=1, site="dl_start")
        for offset in range(0, size, xfer):
            at = address + offset
            seg = self.layout.find(at) if self.layout else None
            if seg is None or not seg.writeable:
                raise DfuError("page_not_writeable", at)
            chunk = data[offset:offset + xfer]
            if seg.erasable and not self.mass_erase_done:
                self._erase_for_chunk(seg, at, len(chunk))
            self._write_chunk(address, offset, chunk, size)
        self.emit("progress", label="Download", curr=size, max=size, site="dl_end")

    def abort_to_idle(self) -> None:
        try:
            self.dfu.abort()
        except TransferError as exc:
            raise DfuError("abort_request", libusb_code=exc.code) from exc
        try:
            status = self.dfu.get_status()
        except TransferError as exc:
            raise DfuError("abort_get_status", libusb_code=exc.code) from exc
        if status.state != p.DFU_IDLE:
            raise DfuError("abort_not_idle")
        self.dfu.sleep_ms(status.poll_timeout)

    def leave(self, address: Optional[int]) -> None:
        """Ask the device to leave DFU mode (jump to ``address`` if given)."""
        if address is not None or self.behaviour.leave_always_sets_address:
            self.set_address(address or 0)
        self.emit("leave_request")
        self.download_chunk(b"")

    def upload_block(self, block: int, length: int) -> bytes:
        """One UPLOAD: ``length`` bytes from pointer + (block - 2) x wTransferSize."""
        try:
            return self.dfu.upload(block, length)
        except TransferError as exc:
            raise DfuError("dfuse_upload", exc.code, libusb_code=exc.code) from exc

    def upload(self, sink: Callable[[bytes], None], address: Optional[int], length: int = 0) -> int:
        """Read memory into ``sink``; the bytes read. ``address`` None: wherever the device points."""
        limit = length
        if address is not None:
            seg = self.layout.find(address) if self.layout else None
            if not self.force and (seg is None or not seg.readable):
                raise DfuError("page_not_readable", address)
            if not limit:
                if seg is not None:
                    limit = seg.end - address + 1
                    self.emit("upload_limit_segment", limit=limit)
                else:
                    limit = 0x4000
                    self.emit("upload_limit", limit=limit)
            self.set_address(address)
            self.abort_to_idle()
        else:
            if not limit:
                self.emit("unbound_upload")
                limit = 0x4000
            self.emit("upload_limit_default", limit=limit)
        self.emit("progress", label="Upload", curr=0, max=1, site="ul_start")
        total = 0
        block = 2
        xfer = self.transfer_size
        while True:
            if limit - total < xfer:
                xfer = limit - total
            chunk = self.upload_block(block, xfer)
            block += 1
            sink(chunk)
            total += len(chunk)
            if len(chunk) < xfer or total >= limit:
                break
            self.emit("progress", label="Upload", curr=total, max=limit, site="ul_chunk")
        self.emit("progress", label="Upload", curr=total, max=total, site="ul_end")
        self.abort_to_idle()
        return total


# --- plain DFU 1.1 ---------------------------------------------------------------------------
def dfu_download(dfu: DfuDevice, data: bytes, transfer_size: int, emit: Callable = _nothing) -> p.DfuStatus:
    """dfu-util's dfuload_do_dnload: blocks 0, 1, 2, ..., the zero-length block, manifestation."""
    sent = 0
    block = 0
    size = len(data)
    emit("progress", label="Download", curr=0, max=1, site="dfu_dl_start")
    while sent < size:
        left = size - sent
        chunk = data[sent:sent + min(left, transfer_size)]
        with deferred_interrupts():     # a block and its status polls: a signal waits for their end
            try:
                dfu.download(block, chunk)
            except TransferError as exc:
                raise DfuError("dfu_download", exc.code, libusb_code=exc.code) from exc
            block += 1
            sent += len(chunk)
            while True:
                try:
                    status = dfu.get_status()
                except TransferError as exc:
                    raise DfuError("dfu_download_status", exc.code, libusb_code=exc.code) from exc
                if status.state in (p.DFU_DNLOAD_IDLE, p.DFU_ERROR):
                    break
                dfu.sleep_ms(status.poll_timeout)
                emit("dfu_poll_timeout", ms=status.poll_timeout)
        if status.status != p.STATUS_OK:
            emit("block_failed", status=status)
            raise DfuError("dfu_download_failed")
        emit("progress", label="Download", curr=sent, max=sent + left, site="dfu_dl_block")
    try:
        dfu.download(block, b"")
    except TransferError as exc:
        raise DfuError("completion_packet", exc.code, libusb_code=exc.code) from exc
    emit("progress", label="Download", curr=sent, max=sent, site="dfu_dl_end")
    emit("sent_total", total=sent)
    while True:
        try:
            status = dfu.get_status()
        except TransferError as exc:
            emit("completion_status_unreadable", code=exc.code, error=p.libusb_error_name(exc.code))
            return None
        emit("manifest_status", status=status)
        dfu.sleep_ms(status.poll_timeout)
        if status.state in (p.DFU_MANIFEST_SYNC, p.DFU_MANIFEST):
            dfu.sleep_ms(1000)     # some devices need time before they answer again
            continue
        if status.state == p.DFU_MANIFEST_WAIT_RESET:
            emit("manifest_wait_reset")
        return status


@dataclass(frozen=True)
class UploadResult:
    """How a plain DFU upload ended: the bytes received, and the libusb error that stopped it
    (None: the device ended it with a short or zero-length packet)."""
    total: int
    error: Optional[int] = None


def dfu_upload(dfu: DfuDevice, sink: Callable[[bytes], None], transfer_size: int, expected_size: int = 0,
               emit: Callable = _nothing) -> UploadResult:
    """dfu-util's dfuload_do_upload loop: blocks 0, 1, 2, ... of ``transfer_size`` until a short
    (or zero-length) one. ``expected_size`` (-Z) only scales the progress bar: no release limits
    the requests by it. A failed transfer ends the loop; how the end is reported differs between
    releases, so it is the caller's (the bar's last repaint, "Failed.", the total)."""
    total = 0
    block = 0
    emit("progress", label="Upload", curr=0, max=1, site="dfu_ul_start")
    while True:
        try:
            chunk = dfu.upload(block, transfer_size)
        except TransferError as exc:
            return UploadResult(total, exc.code)
        block += 1
        sink(chunk)
        total += len(chunk)
        if len(chunk) < transfer_size:
            return UploadResult(total)
        emit("progress", label="Upload", curr=total, max=expected_size, site="dfu_ul_block")
