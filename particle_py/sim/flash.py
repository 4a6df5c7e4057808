"""Flash memory with the rules real NOR flash and its bootloader impose.

- Erase sets a whole page to 0xFF; programming can only clear bits (new = old & data).
- Programming bytes that would need a 0 -> 1 change leaves old & data in the cell and the
  operation fails with errVERIFY (the bootloader reads back and compares, as ST's DfuSe
  firmware does after programming).
- With protection enforced (the default for realistic profiles):
  * programming a page whose layout letter lacks ``w`` fails with errWRITE,
  * erasing a page whose letter lacks ``e`` (read-only ``a``, Gen3 DCT ``e``) fails with errTARGET,
  * reading a page without ``r`` returns nothing (the UPLOAD stalls).
  An address outside every segment fails with errADDRESS (program) / errTARGET (erase, set
  address), matching ST's AN3156 wording ("address not in the memory map").
  The scenario profiles that reproduce recorded dfu-util runs do not enforce the letters,
  because the recordings (e.g. ``:force`` writes into the read-only bootloader) succeeded.

The DCT alt is not raw flash on Particle devices: the bootloader emulates it (Gen2: a
read-modify-write of two alternating 16 KiB sectors; Gen3/Gen4: a file). A ``virtual`` memory
models that: erase is accepted and changes nothing (so writing a key at 34 does not wipe the
server key at 2082, which is what lets ``keys doctor`` then ``keys server`` work), and
programming replaces bytes. Gen3's DCT advertises ``e`` (not erasable) and refuses erase.

Each operation returns the modelled device time it takes (microseconds), from the datasheet
figures in a Timing row; callers accumulate it. Nothing here sleeps.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from . import layout as layout_mod

# DFU status codes used by the memory (names as in the DFU 1.1 spec)
OK = 0x00
ERR_TARGET = 0x01
ERR_WRITE = 0x03
ERR_ERASE = 0x04
ERR_VERIFY = 0x07
ERR_ADDRESS = 0x08


@dataclass(frozen=True)
class Timing:
    """Typical flash timings of one memory technology (device-behaviour.md section 4)."""
    name: str
    erase_us_by_page: dict            # page size (bytes) -> erase time (us); else per-KiB rule
    erase_us_per_kib: int             # used for page sizes not in the table
    program_us_per_word: int
    word_bytes: int = 4
    mass_erase_us: int = 8_000_000

    def erase_us(self, page_size: int) -> int:
        if page_size in self.erase_us_by_page:
            return self.erase_us_by_page[page_size]
        return max(1, page_size // 1024) * self.erase_us_per_kib

    def program_us(self, nbytes: int) -> int:
        words = (nbytes + self.word_bytes - 1) // self.word_bytes
        return words * self.program_us_per_word


TIMINGS = {
    # STM32F2xx, x32: 16 KiB 250 ms, 64 KiB 550 ms, 128 KiB 1 s, word 16 us, mass erase 8 s
    "stm32f2": Timing("stm32f2", {16384: 250_000, 65536: 550_000, 131072: 1_000_000}, 16_000, 16),
    # STM32F1 (Core): 1 KiB pages, ~20 ms each, half-word programming ~50 us
    "stm32f1": Timing("stm32f1", {1024: 20_000}, 20_000, 50, word_bytes=2, mass_erase_us=40_000),
    # nRF52840: 4 KiB page erase up to 85 ms, word write up to 41 us
    "nrf52840": Timing("nrf52840", {4096: 85_000}, 21_250, 41, mass_erase_us=200_000),
    # SPI NOR (Core's SST25, Gen3 external QSPI, RTL872x XIP flash): 4 KiB sector ~45 ms,
    # page program ~0.7 ms per 256 bytes. ASSUMED typical datasheet values.
    "spinor": Timing("spinor", {4096: 45_000}, 11_250, 11, mass_erase_us=20_000_000),
    # generic plain-DFU target
    "generic": Timing("generic", {}, 20_000, 16),
}


@dataclass
class Result:
    status: int = OK
    time_us: int = 0


@dataclass
class Memory:
    """One DFU alt setting's address space: a parsed layout plus its bytes."""
    layout: layout_mod.Layout
    timing: Timing
    enforce: bool = True
    virtual: bool = False                     # emulated DCT: erase keeps data, writes replace
    data: Optional[bytearray] = None         # None = never touched (all 0xFF), loaded lazily
    path: Optional[str] = None                # backing file, read when first needed
    dirty: bool = False
    erase_count: dict = field(default_factory=dict)   # page start -> erases (wear, for tests)

    @property
    def size(self) -> int:
        return self.layout.end - self.layout.base

    def _bytes(self) -> bytearray:
        if self.data is None:
            if self.path and os.path.exists(self.path):
                with open(self.path, "rb") as f:
                    raw = f.read()
                self.data = bytearray(raw[: self.size].ljust(self.size, b"\xff"))
            else:
                self.data = bytearray(b"\xff" * self.size)
        return self.data

    def _offset(self, address: int) -> int:
        return address - self.layout.base

    def contains(self, address: int) -> bool:
        return self.layout.sector_at(address) is not None

    # --- device operations -------------------------------------------------------------
    def erase_page(self, address: int) -> Result:
        bounds = self.layout.page_bounds(address)
        if bounds is None:
            return Result(ERR_TARGET)
        start, size = bounds
        sector = self.layout.sector_at(address)
        if self.enforce and not sector.erasable:
            return Result(ERR_TARGET)
        if self.virtual:
            return Result(OK, self.timing.erase_us(size))
        off = self._offset(start)
        self._bytes()[off:off + size] = b"\xff" * size
        self.dirty = True
        self.erase_count[start] = self.erase_count.get(start, 0) + 1
        return Result(OK, self.timing.erase_us(size))

    def mass_erase(self) -> Result:
        mem = self._bytes()
        if self.virtual:
            return Result(OK, self.timing.mass_erase_us)
        for s in self.layout.sectors:
            if self.enforce and not s.erasable:
                continue
            off = self._offset(s.start)
            mem[off:off + s.count * s.page_size] = b"\xff" * (s.count * s.page_size)
        self.dirty = True
        return Result(OK, self.timing.mass_erase_us)

    def program(self, address: int, data: bytes) -> Result:
        if not data:
            return Result(OK)
        end = address + len(data)
        pos = address
        while pos < end:                    # every page touched must exist (and be writable)
            sector = self.layout.sector_at(pos)
            if sector is None:
                return Result(ERR_ADDRESS)
            if self.enforce and not sector.writable:
                return Result(ERR_WRITE)
            pos = sector.end if end > sector.end else end
        mem = self._bytes()
        off = self._offset(address)
        old = mem[off:off + len(data)]
        if self.virtual:
            mem[off:off + len(data)] = data
            self.dirty = True
            # the emulation rewrites the whole sector it lives in
            return Result(OK, self.timing.erase_us(16384) + self.timing.program_us(len(data)))
        if old == b"\xff" * len(old):
            new = bytes(data)
        else:
            new = (int.from_bytes(old, "little") & int.from_bytes(data, "little")).to_bytes(len(data), "little")
        mem[off:off + len(data)] = new
        self.dirty = True
        status = OK if new == bytes(data) else ERR_VERIFY
        return Result(status, self.timing.program_us(len(data)))

    def read(self, address: int, length: int) -> Optional[bytes]:
        """Bytes at address (clipped to the map), or None if the page may not be read."""
        sector = self.layout.sector_at(address)
        if sector is None:
            return None
        if self.enforce and not sector.readable:
            return None
        end = min(address + length, self.layout.end)
        off = self._offset(address)
        return bytes(self._bytes()[off:off + (end - address)])

    # --- test and setup helpers (bypass every rule, take no device time) ----------------
    def poke(self, address: int, data: bytes) -> None:
        off = self._offset(address)
        if off < 0 or off + len(data) > self.size:
            raise ValueError(f"0x{address:08x}+{len(data)} is outside {self.layout.name!r}")
        self._bytes()[off:off + len(data)] = data
        self.dirty = True

    def peek(self, address: int, length: int) -> bytes:
        off = self._offset(address)
        if off < 0 or off + length > self.size:
            raise ValueError(f"0x{address:08x}+{length} is outside {self.layout.name!r}")
        return bytes(self._bytes()[off:off + length])

    def save(self) -> None:
        if not self.dirty or not self.path:
            return
        from .private import write_private
        write_private(self.path, bytes(self._bytes()))     # the DCT holds the device's private key
        self.dirty = False
