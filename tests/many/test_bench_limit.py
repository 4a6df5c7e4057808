"""scripts/bench's physical limit beside each flash row: the flash model's erase, program and USB
time of exactly the bytes that change."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import bench  # noqa: E402  (tools/bench.py)
from particle_py.sim.device import usb_time_us  # noqa: E402
from particle_py.sim.flash import TIMINGS  # noqa: E402

STM32F2 = TIMINGS["stm32f2"]
USER = 0x080A0000


def test_one_changed_byte_costs_one_page_erase_one_word_and_one_transfer():
    old = bytes(range(256)) * 16
    new = bytearray(old)
    new[100] = 0xFF                        # a bit back to 1: its 128 KiB sector must be erased
    limit = bench.physical_limit_us("photon:real=1", 0, USER, old, bytes(new))
    assert limit == STM32F2.erase_us(131072) + STM32F2.program_us(1) + usb_time_us(1)


def test_bits_only_cleared_need_no_erase_and_nothing_changed_costs_nothing():
    old = b"\xff" * 8192
    new = b"\x00" * 4096 + b"\xff" * 4096
    assert bench.physical_limit_us("photon:real=1", 0, USER, old, new) == \
        STM32F2.program_us(4096) + usb_time_us(4096)
    assert bench.physical_limit_us("photon:real=1", 0, USER, new, new) == 0
