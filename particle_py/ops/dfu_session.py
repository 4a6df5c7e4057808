"""A Particle device opened in DFU mode: read, write and verify its memory (Contract 4).

``ParticleDfuDevice.write`` does smart flashing: pages that already hold the bytes are
skipped, blank pages are written without an erase, and everything written is read back where
the memory is readable. Every DFU request goes through the engine in ``particle_py.dfu``; the
session owns its USB device and releases it on ``close``. Lines for -v go to its reporter as
``Detail`` events.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from particle_py import events
from particle_py.errors import EX_IOERR, Interrupted, ParticlePyError, UsbError, deferred_interrupts
from particle_py.ops.discovery import DFU_HELP, MODE_DFU, UsbEntry, string_descriptor
from particle_py.platforms import Platform

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


@dataclass
class WriteStats:
    bytes_written: int = 0
    bytes_skipped: int = 0
    pages_erased: int = 0
    bytes_unread: int = 0          # skipped (skim) on their first and last bytes alone
    verified: bool = False
    runs: list = field(default_factory=list)     # (address, length, erased) per DNLOAD run


class ParticleDfuDevice:
    """An opened Particle device. read/write/reset need DFU mode (``mode == 'DFU'``)."""

    def __init__(self, entry: UsbEntry, reporter: events.Reporter = events.QUIET):
        self.entry = entry
        self.reporter = reporter
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
        self.reporter.detail(f"Writing {len(data)} bytes to {mm.name.strip().lstrip('@')} (alt {alt}) at "
                                f"0x{address:08x}-0x{end - 1:08x}")
        readable = mm.all(address, end, "readable")
        # Decide per page: skip (already there), write (blank or no erase), erase + write.
        # Comparing stops at the first piece that is neither the new bytes nor blank: that page
        # needs an erase whatever the rest holds, so reading on would only cost time.
        decisions = []
        compare = readable and erase is not True
        from particle_py.ops.interruption import WriteRecord

        record = WriteRecord(alt, address, end)     # what this write did, for a report if it stops
        try:
            pages = mm.pages_overlapping(address, end)
            spans = [(max(page.start, address), min(page.end, end)) for page in pages]
            # every page's head in one batch: one SET_ADDRESS, not one per page
            heads = (self.read_spans(alt, [(lo, min(HEAD_STEP, hi - lo)) for lo, hi in spans]) if compare
                     else [None] * len(spans))
            for page, (lo, hi), old in zip(pages, spans, heads):
                held = self._compare(alt, lo, data[lo - address:hi - address], skim, old) if compare else None
                decisions.append((page, lo, hi, held))
        except (ParticlePyError, Interrupted, KeyboardInterrupt) as err:
            err.nothing_written = True      # failed while comparing: the flash is as it was
            err.write_record = record
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
        try:
            self._write_runs(alt, address, data, runs, stats, record, progress, preserve)
            return self._verify_runs(alt, address, data, stats, verify, readable, erase)
        except (ParticlePyError, Interrupted, KeyboardInterrupt) as err:
            err.write_record = record
            raise

    def _write_runs(self, alt, address, data, runs, stats, record, progress, preserve) -> None:
        end = address + len(data)
        done = stats.bytes_skipped
        eng = self._engine(alt)
        for lo, hi, erase_pages in runs:
            for page in erase_pages:
                keep = b""
                if preserve and page.readable and (page.start < lo or page.end > hi):
                    keep = self.read(alt, page.start, page.size)
                    eng = self._engine(alt)
                with deferred_interrupts():     # the erase and its note: a signal lands before or after both
                    self._guard(lambda: eng.erase_page(page.start), page.start)
                    record.note_erased(page.start, page.end)
                stats.pages_erased += 1
                if keep:
                    self._restore_outside(eng, page, keep, address, end)
            chunk = data[lo - address:hi - address]
            base_done = done

            def on_chunk(sent, _base=base_done, _lo=lo, _chunk=chunk):
                # called inside the engine's deferred step: the note and the block go together
                record.note_written(_lo, _lo + min(sent, len(_chunk)))
                if progress:
                    progress(_base + min(sent, len(_chunk)), len(data))
                self._reached = _lo + sent

            self._reached = lo
            self._guard(lambda: _engine_download(eng, lo, chunk, on_chunk), None)
            done += len(chunk)
            stats.bytes_written += len(chunk)
            stats.runs.append((lo, hi - lo, bool(erase_pages)))
            if progress:
                progress(done, len(data))

    def _verify_runs(self, alt, address, data, stats, verify, readable, erase) -> WriteStats:
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
            from particle_py.control import ControlSession

            # the session follows the restart itself (control_codes.RESTARTING)
            ControlSession(self.entry.usb_device).request(control_codes.RESET).taken()
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
        from particle_py.usb import release_device

        release_device(self.entry.usb_device)

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
    the DFU interfaces' names and the DFU functional descriptor (type 0x21). Kept on the
    device object (a new one after every re-enumeration), so the protection check and the
    session that follows read the names once."""
    cached = getattr(usb_device, "_particle_py_alts", None)
    if cached:
        return dict(cached)
    out = {}
    try:
        cfg = usb_device[0]
        interfaces = [i for i in cfg.interfaces() if i.bInterfaceClass == 0xFE and i.bInterfaceSubClass == 1]
        extra = bytes(getattr(cfg, "extra_descriptors", None) or b"")
        for intf in interfaces:
            extra += bytes(getattr(intf, "extra_descriptors", None) or b"")
        transfer_size = _functional_transfer_size(extra) or 1024
        for intf in interfaces:
            name = string_descriptor(usb_device, intf.iInterface) if intf.iInterface else None
            out[intf.bAlternateSetting] = (name or "", transfer_size)
    except Exception:          # unreadable descriptors: the platform table is the fallback
        return {}
    try:
        usb_device._particle_py_alts = dict(out)
    except AttributeError:
        pass
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
