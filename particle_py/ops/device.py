"""Particle devices on USB: find one, switch it to DFU mode, read and write its memory.

Contract 4 (docs/ARCHITECTURE.md). ``open_particle_device`` picks the device, switches a
normal-mode device to DFU by control request and returns a ``ParticleDfuDevice`` whose
``write`` does smart flashing: pages that already hold the bytes are skipped, blank pages
are written without an erase, and everything written is read back where the memory is
readable. Every DFU request goes through the engine in ``particle_py.dfu``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from particle_py.errors import EX_IOERR, Interrupted, ParticlePyError, UsbError, deferred_interrupts
from particle_py.platforms import Platform, by_usb

DFU_HELP = """!!! The device needs to be in DFU mode for this command.
> To put your device in DFU manually, please:
1) Press and hold both the RESET and MODE/SETUP buttons simultaneously.
2) Release only the RESET button while continuing to hold the MODE/SETUP button.
3) Release the MODE/SETUP button once the device begins to blink yellow."""

REOPEN_POLL_MS = 500
# Blocks sent after one SET_ADDRESS before it is sent again (block numbers 2 ... 0x8001), and
# the block size Particle's DFU bootloaders place blocks by (XFERSIZE, USBD_DFU_TRANSFER_SIZE).
BLOCKS_PER_ADDRESS = 0x8000
BOOTLOADER_TRANSFER_SIZE = 4096
# Before writing, a page's first bytes are compared alone: a page that needs an erase (neither
# the new bytes nor blank) is known after one full-speed packet, without reading the rest.
HEAD_STEP = 64
# A large page whose head matches has this many of its last bytes compared next (a rebuilt
# module differs there: its suffix's SHA-256 and CRC).
TAIL_STEP = 256
# Pages larger than this have their last bytes compared before their middle (the STM32F2's
# 64/128 KB sectors: a change near a module's end is found without reading the whole sector).
TAIL_FIRST_ABOVE = 16 * 1024
REOPEN_TIMEOUT_MS = 60_000
RECONNECT_FAILED = "Unable to reconnect to the device. Try again or run particle update to repair the device"

MODE_DFU = "DFU"
MODE_NORMAL = "NORMAL"


@dataclass
class UsbEntry:
    """A Particle device seen on the bus (not opened for DFU yet)."""
    usb_device: object
    platform: Platform
    device_id: str
    mode: str                      # MODE_DFU or MODE_NORMAL

    @property
    def in_dfu(self) -> bool:
        return self.mode == MODE_DFU


@dataclass
class WriteStats:
    bytes_written: int = 0
    bytes_skipped: int = 0
    pages_erased: int = 0
    bytes_unread: int = 0          # skipped (skim) on their first and last bytes alone
    verified: bool = False
    runs: list = field(default_factory=list)     # (address, length, erased) per DNLOAD run


def _clean_serial(raw) -> str:
    """The device id from a USB serial number: letters and digits only, else no id. The id
    becomes part of file and folder names (keys new/save/load, backups), so a serial such as
    ``../../../x`` must never pass."""
    import re

    text = "".join(c for c in (raw or "") if 32 < ord(c) < 127).lower()
    return text if re.fullmatch(r"[0-9a-z]{1,64}", text) else ""


# Particle devices describe themselves in US English only; asking for it directly (as
# particle-usb's node-usb does) saves the language-list request before every string.
LANGID_EN_US = 0x0409


def _string(dev, index: int) -> Optional[str]:
    """A string descriptor (None when unreadable)."""
    try:
        raw = bytes(dev.ctrl_transfer(0x80, 6, 0x0300 | index, LANGID_EN_US, 255, timeout=1000))
    except Exception:
        raw = b""
    if len(raw) < 2 or raw[1] != 3:
        import usb.util

        try:
            return usb.util.get_string(dev, index)      # the language list first, as pyusb asks
        except Exception:
            return None
    return raw[2:min(raw[0], len(raw))].decode("utf-16-le", "replace")


def _serial(dev) -> str:
    try:
        if not dev.iSerialNumber:
            return ""
        return _clean_serial(_string(dev, dev.iSerialNumber))
    except Exception:              # a device that will not answer is listed without an id
        return ""


def list_devices() -> list[UsbEntry]:
    """Every Particle device attached now, normal and DFU mode, in bus order."""
    from particle_py import usb as transport

    out = []
    for dev in transport.find_devices():
        platform = by_usb(dev.idVendor, dev.idProduct)
        if platform is None:
            continue
        mode = MODE_DFU if platform.dfu_ids == (dev.idVendor, dev.idProduct) else MODE_NORMAL
        out.append(UsbEntry(dev, platform, _serial(dev), mode))
    return out


def _release(dev) -> None:
    from particle_py.usb import release_device

    release_device(dev)


def _matches(entry: UsbEntry, wanted: str) -> bool:
    wanted = wanted.lower()
    if len(wanted) >= 24:
        return entry.device_id == wanted
    return bool(entry.device_id) and entry.device_id.startswith(wanted)


def find_device(device_id: Optional[str] = None, *, mode: Optional[str] = None,
                need_dfu: bool = False, platform_id: Optional[int] = None) -> UsbEntry:
    """The one device attached (or the one with this id / id prefix). With ``platform_id`` and
    no id, devices of other platforms are left out when that leaves exactly one."""
    entries = list_devices()
    if platform_id is not None and not device_id and len(entries) > 1:
        same = [e for e in entries if e.platform.platform_id == platform_id]
        if len(same) == 1:
            for e in entries:
                if e is not same[0]:
                    _release(e.usb_device)
            entries = same
    if mode is not None:
        others = [e for e in entries if e.mode != mode]
        entries = [e for e in entries if e.mode == mode]
        for e in others:
            _release(e.usb_device)
    if device_id:
        found = [e for e in entries if _matches(e, device_id)]
        for e in entries:
            if e not in found:
                _release(e.usb_device)
        if not found:
            raise ParticlePyError(f"Device not found: {device_id}",
                                  "Check the id with `particle usb list`; is the device connected by USB?")
        if len(found) > 1:
            for e in found:
                _release(e.usb_device)
            raise ParticlePyError(f"More than one device matches {device_id}",
                                  "Give more of the id: " + ", ".join(e.device_id for e in found))
        return found[0]
    if not entries:
        raise ParticlePyError("No devices found",
                              DFU_HELP if mode == MODE_DFU or need_dfu else
                              "Connect the device by USB (a data cable, not a charge-only one).")
    if len(entries) > 1:
        ids = ", ".join(f"{e.device_id or '?'} ({e.platform.display_name})" for e in entries)
        for e in entries:
            _release(e.usb_device)
        raise ParticlePyError(
            "Multiple devices found. Connect only one device when running in non-interactive mode.",
            f"Or name the device by its id. Attached: {ids}")
    return entries[0]


def send_control(entry: UsbEntry, req_type: int, payload: bytes = b"", *,
                 may_vanish: bool = False) -> tuple[int, bytes]:
    """A vendor control request to a normal-mode device (``particle_py.control.ControlSession``,
    which follows a request that restarts the device by itself; ``may_vanish`` names those)."""
    from particle_py.control import ControlSession

    reply = ControlSession(entry.usb_device).request(req_type, payload).taken()
    return reply.result, reply.data


# A front end's -v: called with one line before every write says what goes where (None: quiet).
_write_announcer: Optional[Callable[[str], None]] = None


def announce_writes(callback: Optional[Callable[[str], None]]) -> None:
    global _write_announcer
    _write_announcer = callback


def announce(line: str) -> None:
    """One more line for -v (a check, a mode switch); nothing when quiet."""
    if _write_announcer is not None:
        _write_announcer(line)



def _wait_for(predicate, timeout_ms: int = REOPEN_TIMEOUT_MS, poll_ms: int = REOPEN_POLL_MS) -> Optional[UsbEntry]:
    from particle_py import usb as transport

    waited = 0
    while True:
        for entry in list_devices():
            if predicate(entry):
                return entry
            _release(entry.usb_device)
        if waited >= timeout_ms:
            return None
        transport.sleep_ms(poll_ms)
        waited += poll_ms


def switch_to_dfu(entry: UsbEntry, on_event: Optional[Callable[[str], None]] = None) -> UsbEntry:
    """Ask a normal-mode device to re-enumerate in DFU mode and find it again."""
    from particle_py import control_codes

    if entry.in_dfu:
        return entry
    if on_event:
        on_event("Switching device to DFU mode")
    device_id, platform = entry.device_id, entry.platform
    try:
        send_control(entry, control_codes.DFU_MODE, may_vanish=True)
    except ParticlePyError as err:
        _release(entry.usb_device)
        raise ParticlePyError(f"Could not switch the device to DFU mode: {err.message}", DFU_HELP) from None
    _release(entry.usb_device)
    # Where the DFU bootloader reports another serial (Core), the platform has to do.
    by_id = device_id and platform.dfu_serial_is_device_id
    found = _wait_for(lambda e: e.in_dfu and e.platform is platform and (not by_id or e.device_id == device_id))
    if found is None:
        raise ParticlePyError(RECONNECT_FAILED, DFU_HELP)
    return found


def resolve_target(device_id: Optional[str] = None, *, need_dfu: bool = True,
                   platform_id: Optional[int] = None) -> UsbEntry:
    """The device the user means, found without changing anything on any device.

    An id, id prefix or name that matches no attached device is "Device not found", whatever
    else is attached: no device changes mode for a target that is not certain. One exception,
    as particle-cli makes it: a Core in DFU mode does not show its id over USB, so when the one
    device attached is such a device (already in DFU mode) and a full 24-hex id was given, that
    device is taken to be the one meant."""
    try:
        return find_device(device_id, need_dfu=need_dfu, platform_id=platform_id)
    except ParticlePyError as err:
        if not device_id or not err.message.startswith("Device not found") or not _is_full_id(device_id):
            raise
        entries = list_devices()
        anonymous = entries and (not entries[0].platform.dfu_serial_is_device_id
                                 or not _is_full_id(entries[0].device_id))
        if len(entries) == 1 and entries[0].in_dfu and anonymous:
            entries[0].device_id = device_id.lower()
            return entries[0]
        for entry in entries:
            _release(entry.usb_device)
        raise


def release_entry(entry: UsbEntry) -> None:
    """Let go of a resolved device that will not be opened after all."""
    _release(entry.usb_device)


def _is_full_id(text: str) -> bool:
    return len(text) == 24 and all(c in "0123456789abcdefABCDEF" for c in text)


def open_entry(entry: UsbEntry, *, need_dfu: bool = True,
               on_event: Optional[Callable[[str], None]] = None) -> "ParticleDfuDevice":
    """Open a resolved device, switching it to DFU mode first when ``need_dfu``."""
    if need_dfu and not entry.in_dfu:
        given = entry.device_id
        entry = switch_to_dfu(entry, on_event)
        if not entry.device_id and given:
            entry.device_id = given
    return ParticleDfuDevice(entry)


def open_particle_device(device_id: Optional[str] = None, *, need_dfu: bool = True,
                         on_event: Optional[Callable[[str], None]] = None,
                         platform_id: Optional[int] = None) -> "ParticleDfuDevice":
    """The single Particle device connected, or the one with this id, in DFU mode when
    ``need_dfu`` (switched by control request if it is running). ``platform_id`` picks the
    one device of that platform when several are attached (as particle-cli's flash does).
    The target is resolved (``resolve_target``) before any device changes mode."""
    return open_entry(resolve_target(device_id, need_dfu=need_dfu, platform_id=platform_id),
                      need_dfu=need_dfu, on_event=on_event)


class ParticleDfuDevice:
    """An opened Particle device. read/write/reset need DFU mode (``mode == 'DFU'``)."""

    def __init__(self, entry: UsbEntry):
        self.entry = entry
        self.platform: Platform = entry.platform
        self.device_id: str = entry.device_id
        self.mode: str = entry.mode
        self._engines: dict[int, object] = {}
        self._maps: dict[int, object] = {}
        self._alt_info: Optional[dict] = None
        self._closed = False

    # --- plumbing ------------------------------------------------------------------------------
    def _require_dfu(self):
        if self.mode != MODE_DFU:
            raise ParticlePyError("The device is not in DFU mode", DFU_HELP)

    def memory_map(self, alt: int):
        from particle_py.ops.memory import MemoryMap

        if alt not in self._maps:
            # What the device advertises wins (a protected device reports its pages locked);
            # the platform table covers a device whose strings cannot be read.
            advertised = self._alts().get(alt, (None, 0))[0]
            layout = None
            if advertised and advertised.startswith("@"):
                # an impossible layout is the device's word against the table: say so, do not guess
                layout = MemoryMap.from_layout_string(
                    advertised, f"The {self.platform.display_name} {self.device_id or '(no id)'} (alt {alt})")
            if layout is None or not layout.pages:
                if alt >= len(self.platform.dfu_layouts):
                    raise ParticlePyError(f"{self.platform.display_name} has no DFU alt setting {alt}")
                layout = MemoryMap.from_layout_string(self.platform.dfu_layouts[alt])
            self._maps[alt] = layout
        return self._maps[alt]

    def _engine(self, alt: int):
        self._require_dfu()
        eng = self._engines.get(alt)
        if eng is None:
            for other in list(self._engines.values()):
                _engine_release(other)
            self._engines.clear()
            layout, transfer_size = self._alts().get(alt, (None, 4096))
            if not layout or not layout.startswith("@"):
                layout = self.platform.dfu_layouts[alt]
            eng = _engine_open(self.entry, alt, layout, transfer_size)
            self._engines[alt] = eng
        return eng

    def _alts(self) -> dict:
        if self._alt_info is None:
            self._alt_info = probe_alts(self.entry.usb_device) if self.mode == MODE_DFU else {}
        return self._alt_info

    # --- Contract 4 ---------------------------------------------------------------------------
    def read(self, alt: int, address: int, length: int) -> bytes:
        if length <= 0:
            return b""
        self._check_readable(alt, address, length)
        eng = self._engine(alt)
        try:
            data = bytes(eng.upload(address, length))
        except ParticlePyError:
            # particle-cli retries a failed read once; a stalled upload often succeeds again.
            _engine_recover(eng)
            data = bytes(eng.upload(address, length))
        return _whole(data, address, length)

    def read_spans(self, alt: int, spans: list[tuple[int, int]]) -> list[bytes]:
        """The bytes of each (address, length), in order, read with as few SET_ADDRESS requests
        as the bootloader's block rule allows (``_AltSession.upload_spans``). A failed batch is
        read again span by span, each with ``read``'s own retry."""
        for address, length in spans:
            self._check_readable(alt, address, length)
        eng = self._engine(alt)
        try:
            got = eng.upload_spans(spans)
        except ParticlePyError:
            _engine_recover(eng)
            return [self.read(alt, address, length) for address, length in spans]
        return [_whole(data, address, length) for (address, length), data in zip(spans, got)]

    def _check_readable(self, alt: int, address: int, length: int) -> None:
        gap = self.memory_map(alt).first_gap(address, address + length, "readable")
        if gap is not None:
            raise ParticlePyError(f"Cannot read 0x{gap:08x} on alt {alt}: that memory is not readable",
                                  exit_code=EX_IOERR)

    def write(self, alt: int, address: int, data: bytes, *, erase: Optional[bool] = None,
              verify: bool = True, progress: Optional[Callable[[int, int], None]] = None,
              preserve: bool = True, skim: bool = False) -> WriteStats:
        """Put ``data`` at ``address``. erase None = erase only pages that need it (and can be
        erased); True = erase every page touched; False = never erase. ``preserve`` keeps the
        bytes of an erased page outside [address, address+len) (read and written back).
        ``skim``: a page whose first and last bytes already match is skipped without reading the
        rest; only for a caller that proves the result another way (a module's CRC, checked by
        Device OS after the reset), since such a page is not compared whole. (Pages after one
        that differs are still looked at: a larger module than the old one lands on blank
        sectors, which need no erase.)
        Raises before writing if any byte would land outside writable memory."""
        data = bytes(data)
        end = address + len(data)
        stats = WriteStats()
        if not data:
            return stats
        mm = self.memory_map(alt)
        gap = mm.first_gap(address, end, "writable")
        if gap is not None:
            raise ParticlePyError(f"Cannot write 0x{gap:08x} on alt {alt}: that memory is not writable "
                                  f"({mm.name.strip()})", "Nothing was written.")
        if erase is True:
            bad = [p for p in mm.pages_overlapping(address, end) if not p.erasable]
            if bad:
                raise ParticlePyError(f"Cannot erase 0x{bad[0].start:08x} on alt {alt}: that memory is not "
                                      "erasable", "Nothing was written. Write it without erasing.")
        if _write_announcer is not None:
            _write_announcer(f"Writing {len(data)} bytes to {mm.name.strip().lstrip('@')} (alt {alt}) at "
                             f"0x{address:08x}-0x{end - 1:08x}")
        readable = mm.all(address, end, "readable")
        # Decide per page: skip (already there), write (blank or no erase), erase + write.
        # Comparing stops at the first piece that is neither the new bytes nor blank: that page
        # needs an erase whatever the rest holds, so reading on would only cost time.
        decisions = []
        compare = readable and erase is not True
        try:
            pages = mm.pages_overlapping(address, end)
            spans = [(max(page.start, address), min(page.end, end)) for page in pages]
            # every page's head in one batch: one SET_ADDRESS, not one per page
            heads = (self.read_spans(alt, [(lo, min(HEAD_STEP, hi - lo)) for lo, hi in spans]) if compare
                     else [None] * len(spans))
            for page, (lo, hi), old in zip(pages, spans, heads):
                held = self._compare(alt, lo, data[lo - address:hi - address], skim, old) if compare else None
                decisions.append((page, lo, hi, held))
        except (ParticlePyError, Interrupted) as err:
            err.nothing_written = True      # failed while comparing: the flash is as it was
            raise

        runs: list[list] = []          # [start, end, erase_pages]
        for page, lo, hi, held in decisions:
            if held in ("same", "skimmed"):
                stats.bytes_skipped += hi - lo
                stats.bytes_unread += (hi - lo) if held == "skimmed" else 0
                continue
            if held is not None and erase is None:
                # Programming over written bytes is not safe on every flash: erase unless blank.
                erase_page = page.erasable and held != "blank"
            elif erase is None:
                erase_page = page.erasable
            else:
                erase_page = bool(erase) and page.erasable
            if runs and runs[-1][1] == lo:
                runs[-1][1] = hi
                if erase_page:
                    runs[-1][2].append(page)
            else:
                runs.append([lo, hi, [page] if erase_page else []])

        if progress:
            progress(stats.bytes_skipped, len(data))
        done = stats.bytes_skipped
        eng = self._engine(alt)
        for lo, hi, erase_pages in runs:
            for page in erase_pages:
                keep = b""
                if preserve and page.readable and (page.start < lo or page.end > hi):
                    keep = self.read(alt, page.start, page.size)
                    eng = self._engine(alt)
                self._guard(lambda: eng.erase_page(page.start), page.start)
                stats.pages_erased += 1
                if keep:
                    self._restore_outside(eng, page, keep, address, end)
            chunk = data[lo - address:hi - address]
            base_done = done

            def on_chunk(sent, _base=base_done):
                if progress:
                    progress(_base + min(sent, len(chunk)), len(data))
                self._reached = lo + sent

            self._reached = lo
            self._guard(lambda: _engine_download(eng, lo, chunk, on_chunk), None)
            done += len(chunk)
            stats.bytes_written += len(chunk)
            stats.runs.append((lo, hi - lo, bool(erase_pages)))
            if progress:
                progress(done, len(data))

        if verify and readable and stats.runs:
            for lo, length, _ in stats.runs:
                try:
                    back = self.read(alt, lo, length)
                except (ParticlePyError, Interrupted) as err:
                    err.unverified = True   # written, but the read-back failed
                    raise
                want = data[lo - address:lo - address + length]
                if back != want:
                    raise verify_failed(lo, back, want)
            stats.verified = True
        elif readable and erase is not True and not stats.runs and not stats.bytes_unread:
            stats.verified = True      # everything was already there, compared byte for byte
        return stats

    def _compare(self, alt: int, address: int, new: bytes, skim: bool, old: bytes) -> str:
        """'same' (the flash holds ``new``), 'blank' (all 0xFF), 'differs', or with ``skim``
        'skimmed' (its first and last bytes match, the rest was not read). ``old``: the flash's
        first HEAD_STEP bytes there, read already."""
        size = len(new)
        head = min(HEAD_STEP, size)
        same, blank = old == new[:head], old.count(0xFF) == head
        if not same and not blank:
            return "differs"
        # A large page that starts with the new bytes: its last ones next (a rebuilt module
        # differs there: the suffix's SHA-256 and CRC), then the middle. A blank start, or a
        # small page (one more request costs about what reading it whole does): the rest at once.
        tail = max(head, size - TAIL_STEP)
        split = same and not blank and (skim or size > TAIL_FIRST_ABOVE)
        pieces = [(tail, size), (head, tail)] if split else [(head, size)]
        for n, (lo, hi) in enumerate(pieces):
            if hi <= lo:
                continue
            old = self.read(alt, address + lo, hi - lo)
            same = same and old == new[lo:hi]
            blank = blank and old.count(0xFF) == len(old)
            if not same and not blank:
                return "differs"
            if n == 0 and skim and same and len(pieces) == 2:
                return "skimmed"        # first and last bytes match; the caller checks the rest
        return "same" if same else "blank"

    def _restore_outside(self, eng, page, keep: bytes, w_lo: int, w_hi: int) -> None:
        """Write back the non-blank bytes of an erased page that lie outside the new data."""
        for lo, hi in ((page.start, max(page.start, min(w_lo, page.end))),
                       (min(page.end, max(w_hi, page.start)), page.end)):
            part = keep[lo - page.start:hi - page.start]
            if hi > lo and part.count(0xFF) != len(part):
                self._guard(lambda: _engine_download(eng, lo, part, None), lo)

    def _guard(self, fn, address):
        """Run one engine call; a USB failure carries the address the write had reached."""
        try:
            return fn()
        except (ParticlePyError, Interrupted) as err:
            err.reached_address = address if address is not None else getattr(self, "_reached", None)
            raise
        except Exception as exc:                # pyusb errors the engine did not translate
            import usb.core

            if isinstance(exc, usb.core.USBError):
                from particle_py import usb as transport

                dev = self.entry.usb_device
                err = transport.error_from(exc, "talk to the device", dev.idVendor, dev.idProduct)
                err.reached_address = address if address is not None else getattr(self, "_reached", None)
                raise err from None
            raise

    def reset(self, leave: bool = True) -> None:
        """Leave DFU mode (the device starts its firmware). A device that resets before
        answering, or answers dfuDNLOAD-IDLE, is normal (Gen2) and not an error."""
        if self.mode != MODE_DFU:
            from particle_py import control_codes

            send_control(self.entry, control_codes.RESET, may_vanish=True)
            return
        import usb.core

        try:
            eng = self._engine(0)
            _engine_leave(eng)
        except (ParticlePyError, usb.core.USBError):
            pass                        # vanished or answered oddly while resetting: expected

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for eng in self._engines.values():
            _engine_release(eng)
        self._engines.clear()
        _release(self.entry.usb_device)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- the DFU engine seam: the only place that knows the engine's classes -------------------

class _AltSession:
    """One claimed DFU interface set to one alt: the engine's Dfuse on it, at dfuIDLE."""

    def __init__(self, usb_device, alt: int, layout_string: str, transfer_size: int):
        from particle_py.dfu import layout as dfu_layout
        from particle_py.dfu import protocol as p
        from particle_py.dfu.engine import DfuDevice, Dfuse, DfuError, settle

        self.dfu = DfuDevice(usb_device, 0)
        code = self.dfu.claim()
        if code:
            raise UsbError(f"Cannot claim the DFU interface: {p.libusb_error_name(code)}",
                           p.libusb_error_name(code), libusb_code=code, hint=_usb_hint(code, usb_device))
        code = self.dfu.set_alt(alt)
        if code:
            raise UsbError(f"Cannot set alt setting {alt}: {p.libusb_error_name(code)}",
                           p.libusb_error_name(code), libusb_code=code, hint=_usb_hint(code, usb_device))
        try:
            settle(self.dfu)
        except DfuError as err:
            raise UsbError(f"The device is not ready for DFU: {err.message}", libusb_code=err_code(err)) from None
        self.dfuse = Dfuse(self.dfu, transfer_size, dfu_layout.parse(layout_string))
        self.transfer_size = transfer_size

    def erase_page(self, address: int) -> None:
        self.dfuse.erase_page(address)

    def download(self, address: int, data: bytes, progress=None) -> None:
        """One SET_ADDRESS, then DNLOAD blocks 2, 3, ... (no erase): DfuSe puts block n at
        pointer + (n - 2) * wTransferSize (UM0391; Particle's bootloaders: device-os
        bootloader/src/*/usbd_dfu.cpp, ST's DFU library on Gen2). dfu-util and particle-usb send
        a SET_ADDRESS before every block instead, which costs a request and its status polls per
        4 KiB. The address is set again after BLOCKS_PER_ADDRESS blocks (wBlockNum is 16 bits),
        and the caller erases before calling, since an STM32 erase moves the pointer."""
        from particle_py.dfu.engine import DfuError

        xfer = self.transfer_size
        # the bootloaders compute with their own 4096, not the descriptor's value: any other
        # size (a Core's 1 KiB, a future device) gets an address per block, as dfu-util sends
        per_block = 1 if xfer != BOOTLOADER_TRANSFER_SIZE else BLOCKS_PER_ADDRESS
        for offset in range(0, len(data), xfer):
            chunk = data[offset:offset + xfer]
            block = 2 + (offset // xfer) % per_block
            with deferred_interrupts():     # a signal lands between chunks, with progress (the reached address) told
                if block == 2:
                    self.dfuse.set_address(address + offset)
                sent = self.dfuse.download_chunk(chunk, block)
                if sent != len(chunk):
                    raise DfuError("whole_chunk", sent, len(chunk))
                if progress:
                    progress(offset + len(chunk))

    def upload(self, address: int, length: int) -> bytes:
        parts: list[bytes] = []
        self.dfuse.upload(parts.append, address, length)
        return b"".join(parts)[:length]

    def upload_spans(self, spans: list[tuple[int, int]]) -> list[bytes]:
        """The bytes of each (address, length), in order. The bootloaders read UPLOAD block n at
        pointer + (n - 2) * 4096 whatever wLength asks (device-os bootloader/src/*/usbd_dfu.cpp
        handleDfuUpload; ST's DFU_Req_UPLOAD on Gen2), so spans 4 KiB apart share one
        SET_ADDRESS. Another transfer size: one upload per span."""
        if self.transfer_size != BOOTLOADER_TRANSFER_SIZE:
            return [self.upload(address, length) for address, length in spans]
        got: list[bytes] = []
        base = None                     # the address pointer, while the device is in dfuUPLOAD-IDLE
        for address, length in spans:
            step, off_grid = divmod(address - base, BOOTLOADER_TRANSFER_SIZE) if base is not None else (0, 0)
            if base is not None and (off_grid or not 0 <= step < BLOCKS_PER_ADDRESS
                                     or length > BOOTLOADER_TRANSFER_SIZE):
                self.dfuse.abort_to_idle()
                base = None
            if length > BOOTLOADER_TRANSFER_SIZE:      # more than one block: an upload of its own
                got.append(self.upload(address, length))
                continue
            if base is None:
                base, step = address, 0
                self.dfuse.set_address(address)
                self.dfuse.abort_to_idle()
            got.append(bytes(self.dfuse.upload_block(2 + step, length)))
        if base is not None:
            self.dfuse.abort_to_idle()
        return got

    def leave(self) -> None:
        self.dfuse.leave(None)

    def recover(self) -> None:
        from particle_py.dfu.engine import settle

        try:
            settle(self.dfu)
        except ParticlePyError:
            pass

    def close(self) -> None:
        self.dfu.release()


def first_difference(held: bytes, want: bytes) -> int:
    return next(i for i in range(len(want)) if held[i] != want[i])


def verify_failed(address: int, held: bytes, want: bytes) -> ParticlePyError:
    """The error for a read-back of ``address`` that is not what was written."""
    at = first_difference(held, want)
    return ParticlePyError(
        f"Verify failed: 0x{address + at:08x} holds 0x{held[at]:02x}, expected 0x{want[at]:02x}",
        "The device did not store what was sent. Try again; if it repeats, the flash may be worn or "
        "protected.", EX_IOERR)


def _whole(data: bytes, address: int, length: int) -> bytes:
    if len(data) != length:
        raise UsbError(f"Short read at 0x{address:08x}: got {len(data)} of {length} bytes")
    return data


def _usb_hint(code: int, usb_device) -> Optional[str]:
    """The transport's fix for this libusb error on this system (udev rules, WinUSB ...)."""
    from particle_py.usb import hints

    return hints.hint_for_error(code, getattr(usb_device, "idVendor", None), getattr(usb_device, "idProduct", None))


def err_code(err) -> Optional[int]:
    return getattr(err, "libusb_code", None)


def _engine_open(entry: UsbEntry, alt: int, layout_string: str, transfer_size: int) -> _AltSession:
    return _AltSession(entry.usb_device, alt, layout_string, transfer_size)


def _engine_download(eng, address, data, progress):
    return eng.download(address, data, progress)


def _engine_leave(eng):
    return eng.leave()


def _engine_recover(eng):
    eng.recover()


def _engine_release(eng):
    try:
        eng.close()
    except Exception:
        pass


def probe_alts(usb_device) -> dict[int, tuple[str, int]]:
    """alt -> (layout string the device advertises, wTransferSize), from its descriptors:
    the DFU interfaces' names and the DFU functional descriptor (type 0x21)."""
    out = {}
    try:
        cfg = usb_device[0]
        interfaces = [i for i in cfg.interfaces() if i.bInterfaceClass == 0xFE and i.bInterfaceSubClass == 1]
        extra = bytes(getattr(cfg, "extra_descriptors", None) or b"")
        for intf in interfaces:
            extra += bytes(getattr(intf, "extra_descriptors", None) or b"")
        transfer_size = _functional_transfer_size(extra) or 1024
        for intf in interfaces:
            name = _string(usb_device, intf.iInterface) if intf.iInterface else None
            out[intf.bAlternateSetting] = (name or "", transfer_size)
    except Exception:          # unreadable descriptors: the platform table is the fallback
        return {}
    return out


def _functional_transfer_size(extra: bytes) -> int:
    """wTransferSize of the first DFU functional descriptor in ``extra`` (0 if none)."""
    i = 0
    while i + 2 <= len(extra) and extra[i] >= 2:
        length, kind = extra[i], extra[i + 1]
        if kind == 0x21 and length >= 7 and i + 7 <= len(extra):
            return extra[i + 5] | extra[i + 6] << 8
        i += length
    return 0
