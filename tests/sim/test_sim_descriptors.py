"""Descriptors byte for byte, as dfu-util and libusb read them."""
import struct

from particle_py.sim import descriptors as d
from particle_py.sim.profiles import build

from sim_helpers import make_bus

PHOTON_INTERNAL = "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg"
PHOTON_DCT = "@DCT Flash   /0x00000000/01*016Kg"


def test_photon_device_descriptor_bytes(state_dir):
    dev = make_bus(state_dir, ["photon"]).devices()[0]
    raw = dev.control(0x80, 6, 0x0100, 0, b"", 18)
    assert raw == bytes.fromhex("12 01 0002 00 00 00 40 042b 06d0 0002 01 02 03 01")


def test_photon_configuration_puts_functional_descriptor_after_last_alt(state_dir):
    dev = make_bus(state_dir, ["photon"]).devices()[0]
    raw = dev.control(0x80, 6, 0x0200, 0, b"", 255)
    assert raw == bytes.fromhex(
        "09 02 2400 01 01 00 80 32"
        "09 04 00 00 00 fe 01 02 04"
        "09 04 00 01 00 fe 01 02 05"
        "09 21 0b ff00 0010 1a01")
    assert dev.descriptor_bytes() == dev.control(0x80, 6, 0x0100, 0, b"", 18) + raw


def test_strings_langid_and_utf16(state_dir):
    dev = make_bus(state_dir, ["photon"]).devices()[0]
    assert dev.control(0x80, 6, 0x0300, 0, b"", 255) == b"\x04\x03\x09\x04"
    serial = dev.control(0x80, 6, 0x0303, 0x0409, b"", 255)
    assert serial == bytes([26, 3]) + "00000000010C".encode("utf-16-le")
    assert dev.control(0x80, 6, 0x0304, 0x0409, b"", 255)[2:].decode("utf-16-le") == PHOTON_INTERNAL
    assert dev.control(0x80, 6, 0x0305, 0x0409, b"", 255)[2:].decode("utf-16-le") == PHOTON_DCT
    # a short wLength gets a truncated reply, as on the wire
    assert dev.control(0x80, 6, 0x0303, 0x0409, b"", 2) == bytes([26, 3])


def test_functional_descriptor_by_get_descriptor(state_dir):
    dev = make_bus(state_dir, ["photon"]).devices()[0]
    assert dev.control(0x80, 6, 0x2100, 0, b"", 9) == bytes.fromhex("09 21 0b ff 00 00 10 1a 01")


def test_tsize_knob_changes_functional_descriptor(state_dir):
    dev = make_bus(state_dir, ["photon"], {"FAKE_TSIZE": "0"}).devices()[0]
    assert dev.descriptor_bytes()[-9:] == bytes.fromhex("09 21 0b ff00 0000 1a01")


def test_stm32_has_four_alts_and_2048_transfer_size(state_dir):
    dev = make_bus(state_dir, ["stm32"]).devices()[0]
    cfg = dev.control(0x80, 6, 0x0200, 0, b"", 255)
    intfs = [cfg[i:i + 9] for i in range(9, 9 + 4 * 9, 9)]
    assert [x[3] for x in intfs] == [0, 1, 2, 3]
    assert cfg[-9:] == struct.pack("<BBBHHH", 9, 0x21, 0x0B, 255, 2048, 0x011A)
    names = [dev.control(0x80, 6, 0x0300 | x[8], 0x0409, b"", 255)[2:].decode("utf-16-le") for x in intfs]
    assert names == ["@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg", "@Option Bytes  /0x1FFFC000/01*016 e",
                     "@OTP Memory /0x1FFF7800/01*512 e,01*016 e", "@Device Feature/0xFFFF0000/01*004 e"]
    assert dev.control(0x80, 6, 0x0100, 0, b"", 18)[8:14] == bytes.fromhex("8304 11df 0022")


def test_dfu11_and_runtime_descriptors(state_dir):
    bus = make_bus(state_dir, ["dfu11", "dfu11nt", "runtime"])
    dfu11, dfu11nt, runtime = bus.devices()
    assert dfu11.descriptor_bytes()[-9:] == bytes.fromhex("09 21 07 ff00 0004 1001")
    assert dfu11nt.descriptor_bytes()[-9:] == bytes.fromhex("09 21 03 ff00 0004 1001")
    cfg = runtime.control(0x80, 6, 0x0200, 0, b"", 255)
    assert cfg[4] == 2                                   # two interfaces
    dfu_intf = cfg[18:27]
    assert dfu_intf[2] == 1 and dfu_intf[5:8] == bytes([0xFE, 0x01, 0x01])   # intf 1, run-time protocol
    assert runtime.control(0x80, 6, 0x0300 | dfu_intf[8], 0x0409, b"", 255)[2:].decode("utf-16-le") == "Run-Time DFU"


def test_platform_profiles_use_platform_layouts_and_device_id():
    for name in ("p1", "electron", "argon", "boron", "p2", "core", "tracker", "msom"):
        from particle_py.platforms import by_name
        platform = by_name(name)
        prof = build(name, 3)
        desc = prof.description()
        assert (desc.vid, desc.pid) == platform.dfu_ids
        assert [a.name for a in desc.interfaces] == list(platform.dfu_layouts)
        assert desc.interfaces[-1].extra[:2] == b"\x09\x21"
        if platform.dfu_serial_is_device_id:
            assert desc.serial == prof.device_id and len(desc.serial) == 24
    assert build("argon:id=E00FCE68EEDC3C3F17F89017").serial == "e00fce68eedc3c3f17f89017"


def test_unknown_string_index_stalls(state_dir):
    import pytest
    from particle_py.sim import SimUsbError
    dev = make_bus(state_dir, ["photon"]).devices()[0]
    with pytest.raises(SimUsbError) as e:
        dev.control(0x80, 6, 0x0399, 0x0409, b"", 255)
    assert e.value.code == -9


def test_foreign_bluetooth_devices_have_a_dfu_1_0_runtime_interface(state_dir):
    bus = make_bus(state_dir, ["apple-bt", "foxconn-bt", "broadcom-bt"])
    ids = [(d.vid, d.pid) for d in bus.devices()]
    assert ids == [(0x05AC, 0x8289), (0x0489, 0xE07A), (0x0A5C, 0x217F)]
    apple = bus.devices()[0]
    dev_desc = apple.control(0x80, 6, 0x0100, 0, b"", 18)
    assert dev_desc[12:14] == b"\x99\x00" and dev_desc[16] == 0          # ver=0099, no serial string
    cfg = apple.control(0x80, 6, 0x0200, 0, b"", 255)
    assert cfg[4] == 4                                                   # DFU run-time is interface 3
    dfu_intf = cfg[9 + 27:9 + 36]
    assert dfu_intf[2] == 3 and dfu_intf[5:9] == bytes([0xFE, 0x01, 0x01, 0x00])   # no iInterface
    assert cfg[-7:] == bytes.fromhex("07 21 07 8813 4000")               # DFU 1.0: 7 bytes, no bcdDFU
    apple.control(0x21, 0, 1000, 3, b"", 0)                              # DETACH is ignored ...
    apple.reset()
    assert bus.devices()[0] is apple and not apple.gone                  # ... it stays what it is


def test_every_listed_profile_builds():
    from particle_py.sim.profiles import names
    built = [build(n, 0) for n in names()]
    assert {"photon", "stm32", "dfu11", "dfu11nt", "runtime", "argon-normal", "apple-bt"} <= {p.name for p in built}
    assert all(p.description().functional() is not None for p in built if p.kind != "normal")
