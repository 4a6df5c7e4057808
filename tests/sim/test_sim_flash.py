"""Flash rules: erase to 0xFF, programming only clears bits, protected pages refuse."""
import pytest

from particle_py.sim import flash
from particle_py.sim.layout import parse

from sim_helpers import Dfu, make_bus

PHOTON = "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg"


def memory(text=PHOTON, enforce=True, virtual=False):
    return flash.Memory(parse(text), flash.TIMINGS["stm32f2"], enforce=enforce, virtual=virtual)


def test_erase_sets_the_whole_page_to_ff():
    mem = memory()
    mem.poke(0x0800C000, b"\x00" * 0x4000 + b"\x00" * 16)
    result = mem.erase_page(0x0800C123)               # any address inside the 16 KiB page
    assert result.status == flash.OK and result.time_us == 250_000
    assert mem.peek(0x0800C000, 0x4000) == b"\xff" * 0x4000
    assert mem.peek(0x08010000, 16) == b"\x00" * 16   # the next page is untouched


def test_programming_over_unerased_data_fails_verify_and_keeps_old_and_new():
    mem = memory()
    assert mem.program(0x08020000, b"\x0f\xf0").status == flash.OK
    result = mem.program(0x08020000, b"\xf0\xf0")
    assert result.status == flash.ERR_VERIFY
    assert mem.peek(0x08020000, 2) == b"\x00\xf0"     # bits only ever cleared


def test_programming_only_clearing_bits_succeeds():
    mem = memory()
    mem.program(0x08020000, b"\xff\x0f")
    assert mem.program(0x08020000, b"\x0f\x0f").status == flash.OK


def test_read_only_pages_refuse_erase_and_write():
    mem = memory()
    assert mem.erase_page(0x08000000).status == flash.ERR_TARGET
    assert mem.program(0x08000000, b"x").status == flash.ERR_WRITE
    assert mem.program(0x0800BFFF, b"xy").status == flash.ERR_WRITE   # starts in r/o, ends in rw


def test_not_enforcing_lets_read_only_pages_be_written():
    mem = memory(enforce=False)
    assert mem.program(0x08000000, b"x").status == flash.OK


def test_outside_the_map():
    mem = memory()
    assert mem.program(0x09000000, b"x").status == flash.ERR_ADDRESS
    assert mem.erase_page(0x09000000).status == flash.ERR_TARGET
    assert mem.read(0x09000000, 4) is None


def test_gen3_dct_refuses_erase_but_takes_writes_over_data():
    mem = flash.Memory(parse("@DCT Flash   /0x00000000/1*016Ke"), flash.TIMINGS["nrf52840"], virtual=True)
    assert mem.erase_page(0).status == flash.ERR_TARGET
    assert mem.program(3106, b"\x00" * 8).status == flash.OK
    assert mem.program(3106, b"\x12" * 8).status == flash.OK
    assert mem.peek(3106, 8) == b"\x12" * 8


def test_gen2_dct_erase_keeps_other_keys():
    mem = flash.Memory(parse("@DCT Flash   /0x00000000/01*016Kg"), flash.TIMINGS["stm32f2"], virtual=True)
    mem.program(2082, b"server key")
    assert mem.erase_page(34).status == flash.OK
    mem.program(34, b"device key")
    assert mem.peek(2082, 10) == b"server key" and mem.peek(34, 10) == b"device key"


def test_timings_follow_the_datasheet_table():
    t = flash.TIMINGS["stm32f2"]
    assert [t.erase_us(s) for s in (16384, 65536, 131072)] == [250_000, 550_000, 1_000_000]
    assert t.program_us(4096) == 1024 * 16
    assert flash.TIMINGS["nrf52840"].erase_us(4096) == 85_000


def test_write_to_read_only_bootloader_over_usb_reports_errwrite(state_dir):
    dev = make_bus(state_dir, ["photon:real=1"]).devices()[0]
    host = Dfu(dev)
    host.set_address(0x08000000)
    host.dnload(2, b"\x00" * 64)
    assert host.status()[2] == 4
    assert host.status() == (flash.ERR_WRITE, 0, 10)
    assert dev.memory(0).peek(0x08000000, 64) == b"\xff" * 64


def test_argon_dct_erase_over_usb_fails_errtarget(state_dir):
    dev = make_bus(state_dir, ["argon"]).devices()[0]
    dev.set_interface(0, 1)
    assert Dfu(dev).erase(34)[1] == (flash.ERR_TARGET, 0, 10)


def test_program_over_unerased_over_usb_reports_errverify(state_dir):
    dev = make_bus(state_dir, ["boron"]).devices()[0]
    dev.memory(0).poke(0x00030000, b"\x00" * 16)
    assert Dfu(dev).write(0x00030000, b"\xff" * 16)[1] == (flash.ERR_VERIFY, 0, 10)
