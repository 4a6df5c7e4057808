"""Normal-mode Particle devices: the vendor control protocol on the wire (particle-usb proto.js)."""
import struct

import pytest

from particle_py.sim import SimUsbError
from particle_py.platforms import by_name

from sim_helpers import make_bus

ID = "e00fce68eedc3c3f17f89017"


def reply(raw):
    flags, status = struct.unpack_from("<IH", raw)
    out, pos = {"status": status}, 6
    for flag, key, fmt in ((2, "id", "<H"), (4, "size", "<I"), (8, "result", "<i")):
        if flags & flag:
            out[key] = struct.unpack_from(fmt, raw, pos)[0]
            pos += struct.calcsize(fmt)
    assert pos == len(raw)
    return out


def request(dev, req_type, payload=b""):
    init = reply(dev.control(0xC0, 1, len(payload), req_type, b"", 64))
    assert init["status"] == 0
    if payload:
        dev.control(0x40, 3, 0, init["id"], payload, len(payload))
    check = reply(dev.control(0xC0, 2, 0, init["id"], b"", 64))
    data = dev.control(0xC0, 4, 0, init["id"], b"", check["size"]) if check.get("size") else b""
    return check, data


@pytest.fixture
def argon(state_dir):
    return make_bus(state_dir, [f"argon-normal:id={ID}"])


def test_descriptor_and_serial_are_the_device_id(argon):
    dev = argon.devices()[0]
    assert (dev.vid, dev.pid) == by_name("argon").usb_ids
    assert dev.control(0x80, 6, 0x0303, 0x0409, b"", 255)[2:].decode("utf-16-le") == ID


def test_get_device_id_and_firmware_version(argon):
    dev = argon.devices()[0]
    check, data = request(dev, 20)
    assert check == {"status": 0, "size": 26, "result": 0} and data == b"\x0a\x18" + ID.encode()
    assert dev.control(0xC0, 0x50, 0, 30, b"", 64) == b"4.2.0"


def test_listening_mode_round_trip(argon):
    dev = argon.devices()[0]
    assert request(dev, 72) == ({"status": 0, "result": 0}, b"")              # NORMAL_MODE (default, empty)
    request(dev, 70)
    assert request(dev, 72)[1] == b"\x08\x01"                                  # LISTENING_MODE
    request(dev, 71)
    assert request(dev, 72)[1] == b""


def test_unknown_request_type_is_not_supported(argon):
    assert request(argon.devices()[0], 12345)[0]["result"] == -120


def test_request_with_payload_waits_for_its_data(argon):
    dev = argon.devices()[0]
    init = reply(dev.control(0xC0, 1, 4, 12345, b"", 64))
    assert reply(dev.control(0xC0, 2, 0, init["id"], b"", 64))["status"] == 2    # PENDING until SEND
    dev.control(0x40, 3, 0, init["id"], b"abcd", 4)
    assert reply(dev.control(0xC0, 2, 0, init["id"], b"", 64))["status"] == 0


def test_check_of_unknown_request_is_not_found_and_reset_clears(argon):
    dev = argon.devices()[0]
    assert reply(dev.control(0xC0, 2, 0, 999, b"", 64))["status"] == 5
    init = reply(dev.control(0xC0, 1, 4, 20, b"", 64))
    assert reply(dev.control(0xC0, 5, 0, 0, b"", 64))["status"] == 0
    assert reply(dev.control(0xC0, 2, 0, init["id"], b"", 64))["status"] == 5


def test_dfu_mode_request_reenumerates_as_the_dfu_bootloader_with_same_id(argon):
    dev = argon.devices()[0]
    dev.memory(1).poke(3106, b"device key")
    assert request(dev, 50)[0]["result"] == 0
    assert dev.gone
    with pytest.raises(SimUsbError):
        request(dev, 20)
    dfu = argon.devices()[0]
    assert (dfu.vid, dfu.pid, dfu.serial, dfu.path) == (0x2B04, 0xD00C, ID, dev.path)
    assert dfu.devnum == dev.devnum + 1
    assert dfu.memory(1).peek(3106, 10) == b"device key"


def test_reset_request_reboots_without_device_os_into_dfu(argon):
    dev = argon.devices()[0]
    request(dev, 40)
    assert argon.devices()[0].pid == 0xD00C


def test_dfu_class_requests_stall_in_normal_mode(argon):
    with pytest.raises(SimUsbError) as e:
        argon.devices()[0].control(0xA1, 3, 0, 0, b"", 6)
    assert e.value.code == -9


def test_a_device_that_reboots_twice_keeps_one_id_option(argon):
    from particle_py.sim import contents
    dev = argon.devices()[0]
    for address, module in contents.device_os(by_name("argon"), "4.1.0"):
        dev.memory(0).poke(address, module)
    request(dev, 40)
    again = argon.devices()[0]
    request(again, 40)
    assert argon.devices()[0].profile.spec == f"argon-normal:id={ID}"
