"""Property tests for every parser of what a device (or the OS) says: listening-mode replies,
control-request protobuf replies, port listings. They return a value or raise their own error
type; nothing else, whatever the bytes."""
import json
from dataclasses import dataclass
from typing import Optional

import pytest
from hypothesis import given, settings, strategies as st

from particle_py.control import module_info, network as control_info
from particle_py.control.protobuf import Message, ProtoError
from particle_py.serial_link import listening, ports

TEXT = st.text(max_size=300)
HEX24 = st.text(alphabet="0123456789abcdef", min_size=24, max_size=24)


@given(TEXT)
def test_listening_parsers_only_raise_reply_error(text):
    for parser in (listening.parse_identify, listening.parse_mac, listening.parse_version, listening.parse_describe):
        try:
            parser(text)
        except listening.ReplyError:
            pass


@given(HEX24, st.sampled_from(["device", "core"]))
def test_identify_wifi_reply(device_id, word):
    assert listening.parse_identify(f"Your {word} id is {device_id}\r\n").device_id == device_id


@given(HEX24, st.text(alphabet="0123456789", min_size=15, max_size=15),
       st.text(alphabet="0123456789", min_size=19, max_size=20))
def test_identify_cellular_reply(device_id, imei, iccid):
    reply = listening.parse_identify(f"Device ID: {device_id.upper()}\r\nIMEI: {imei}\r\nICCID: {iccid}\r\n")
    assert (reply.device_id, reply.imei, reply.iccid) == (device_id, imei, iccid)


@given(st.lists(st.integers(0, 255), min_size=2, max_size=6))
def test_mac_reply_pads_to_six_bytes(octets):
    mac = listening.parse_mac("Your device MAC address is\r\n" + ":".join(f"{b:02X}" for b in octets) + "\r\n")
    parts = mac.split(":")
    assert len(parts) == 6 and parts[:len(octets)] == [f"{b:02x}" for b in octets]
    assert set(parts[len(octets):]) <= {"00"}


MODULE = st.fixed_dictionaries({
    "s": st.integers(0, 2**31), "l": st.sampled_from("mbft"), "vc": st.integers(0, 30), "vv": st.integers(0, 30),
    "f": st.sampled_from("bsumrac"), "n": st.sampled_from(["0", "1", "2"]), "v": st.integers(0, 65535),
    "d": st.lists(st.fixed_dictionaries({"f": st.sampled_from("bsu"), "n": st.sampled_from(["0", "1", "2"]),
                                         "v": st.integers(0, 65535)}), max_size=2)})


@given(st.integers(0, 40), st.lists(MODULE, max_size=6))
def test_describe_round_trip(platform_id, modules):
    text = json.dumps({"p": platform_id, "m": modules}, separators=(",", ":")) + "\r\n"
    parsed = listening.parse_describe(text)
    assert parsed.platform_id == platform_id
    assert [(m.function, m.location, m.max_size, m.version, m.validity_values) for m in parsed.modules] == \
        [(m["f"], m["l"], m["s"], m["v"], m["vv"]) for m in modules]


@given(st.integers(0, 40), st.lists(MODULE, min_size=1, max_size=4), st.data())
def test_describe_cut_short_is_a_reply_error(platform_id, modules, data):
    text = json.dumps({"p": platform_id, "m": modules}, separators=(",", ":"))
    cut = data.draw(st.integers(1, len(text) - 1))
    try:
        listening.parse_describe(text[:cut])
    except listening.ReplyError:
        return
    raise AssertionError("a cut JSON object parsed")


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_protobuf_parsers_only_raise_proto_error(data):
    for parser in (module_info.parse, control_info.parse_interface_list,
                   control_info.parse_interface, control_info.parse_cellular):
        try:
            parser(data)
        except ProtoError as err:
            assert err.message.startswith("The device's reply could not be read (") and err.exit_code == 76


@given(st.text(alphabet="0123456789abcXF ", max_size=40), st.text(alphabet="0123456789x ", max_size=40))
def test_cellular_ids_over_usb_are_what_their_standards_allow(iccid, imei):
    import re

    from particle_py.control.protobuf import bytes_field
    data = bytes_field(1, iccid.encode()) + bytes_field(2, imei.encode())
    good = ((not imei or re.fullmatch(r"[0-9]{14,16}", imei))
            and (not iccid or re.fullmatch(r"[0-9]{17,22}[fF]?", iccid)))
    try:
        assert control_info.parse_cellular(data) == (iccid, imei) and good
    except ProtoError:
        assert not good


def test_a_20_mb_imei_over_usb_is_unreadable_not_printed():
    from particle_py.control.protobuf import bytes_field
    with pytest.raises(ProtoError) as caught:
        control_info.parse_cellular(bytes_field(1, b"89014103211118510720") + bytes_field(2, b"3" * 20_000_000))
    assert len(caught.value.message) < 200


@given(st.integers(0, 2**32 - 1))
def test_index_request_round_trip(index):
    assert Message(control_info.index_request(index)).uint(1) == index


def test_module_info_from_the_simulated_device_round_trips():
    """The simulator's encoder and the client's decoder agree (both eras of the reply). Device OS
    before 5.6 counts a module's size without its CRC word (storage.cpp: end - start), 5.6+ with."""
    from particle_py.platforms import by_name
    from particle_py.sim import contents, device_info

    platform = by_name("photon")
    flash = {}
    for address, module in contents.device_os(platform, "2.3.1"):
        flash[address] = module
    flash[platform.user_part.address] = contents.user_app(platform, "2.3.1")

    def read(alt, address, length):
        for start, blob in flash.items():
            if start <= address < start + len(blob):
                return (blob[address - start:address - start + length]).ljust(length, b"\xff")
        return b"\xff" * length

    reports = device_info.scan(read, platform)
    for new_format in (False, True):
        modules = module_info.parse(device_info.module_info_reply(reports, new_format))
        crc = 4 if new_format else 0
        assert [(m.type, m.index, m.version, m.size, m.validity_errors) for m in modules] == [
            ("SYSTEM_PART", 1, 2301, 16380 + crc, ()), ("SYSTEM_PART", 2, 2301, 16380 + crc, ()),
            ("USER_PART", 1, 6, 5320 + crc, ())]
        assert [(d.type, d.index, d.version) for d in modules[2].dependencies] == [("SYSTEM_PART", 2, 2301)]
        assert (modules[2].max_size, bool(modules[2].hash)) == ((131072, True) if new_format else (None, False))


@dataclass
class FakePort:
    device: str
    vid: Optional[int] = None
    pid: Optional[int] = None
    serial_number: Optional[str] = None
    manufacturer: Optional[str] = None
    hwid: str = "n/a"


PORTS = st.builds(FakePort, device=st.sampled_from(["/dev/ttyACM0", "/dev/ttyS0", "COM3", "/dev/cu.usbmodem1"]),
                  vid=st.one_of(st.none(), st.sampled_from([0x2B04, 0x1D50, 0x0403])),
                  pid=st.one_of(st.none(), st.sampled_from([0xC006, 0xC00C, 0x607D, 0x6001])),
                  serial_number=st.one_of(st.none(), st.text(max_size=30)),
                  manufacturer=st.one_of(st.none(), st.sampled_from(["Particle", "FTDI", "Spark Devices"])),
                  hwid=st.text(max_size=60))


@given(st.lists(PORTS, max_size=5))
def test_port_matching_never_fails(raw):
    for device in ports.particle_ports(raw):
        assert device.port in {p.device for p in raw}
        assert isinstance(device.line(), str)


def test_port_matching_rules():
    raw = [FakePort("/dev/ttyS0"),
           FakePort("/dev/ttyACM0", 0x2B04, 0xC006, "3A0035000F47343432313031"),
           FakePort("COM3", hwid="USB\\VID_2B04&PID_C00C\\E00FCE68A1B2C3D4E5F60718"),
           FakePort("/dev/ttyACM1", 0x2B04, 0xC006, "00000000050C"),
           FakePort("/dev/cu.usbmodem1", manufacturer="Spark Devices")]
    assert [d.line() for d in ports.particle_ports(raw)] == [
        "/dev/ttyACM0 - Photon - 3a0035000f47343432313031",
        "COM3 - Argon - E00FCE68A1B2C3D4E5F60718",
        "/dev/ttyACM1 - Photon - 00000000050C",
        "/dev/cu.usbmodem1 - Core - undefined"]
    assert [d.line() for d in ports.particle_ports([FakePort("/dev/ttyACM3"), FakePort("/dev/ttyS0")])] == [
        "/dev/ttyACM3 -  - undefined"]


@given(st.text(alphabet="abc{} :\r\n0123", max_size=40), st.integers(0, 40), st.lists(MODULE, max_size=3))
def test_describe_after_app_log_text(noise, platform_id, modules):
    text = json.dumps({"p": platform_id, "m": modules}, separators=(",", ":"))
    assert listening.parse_describe(noise + "\r\n" + text + "\r\n").platform_id == platform_id
