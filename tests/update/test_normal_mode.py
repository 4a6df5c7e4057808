"""Device OS's side over control requests: module info, firmware update, and refusals."""
import pytest
from hypothesis import given, settings, strategies as st

from helpers.modules import build_module
from particle_py.firmware.module import ModuleFunction as F
from particle_py.platforms import by_name

from test_update import assert_release_in_flash, data_writes, release_files


def requests(log, req_type):
    """Particle control requests of one type the device received (SERVICE_INIT)."""
    return [e for e in log if e.get("event") == "control" and e["bmRequestType"] == 0xC0
            and e["bRequest"] == 1 and e["wIndex"] == req_type]


def set_addresses(log):
    import struct

    return [struct.unpack("<I", bytes.fromhex(e["data"])[1:5])[0] for e in log
            if e.get("event") == "control" and e["bmRequestType"] == 0x21 and e["bRequest"] == 1
            and e["wValue"] == 0 and e["data"].startswith("21")]


def test_bootloader_goes_to_device_os_and_is_confirmed(device, run, release_dirs):
    d = device("photon", device_os="1.5.2")
    mark = len(d.log())
    code, out, err = run("update", d.device_id, "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 0, err
    log = d.log()[mark:]
    assert len(requests(log, 250)) == 1 and len(requests(log, 251)) == 1
    boot = release_files(release_dirs, "2.2.0", "photon")[0][1]
    assert len(requests(log, 253)) == -(-len(boot) // 4096)
    # the plan, the bootloader's confirmation, and the proof of the DFU writes after the boot
    assert len(requests(log, 90)) == 3
    ota = by_name("photon").ota_region.address
    assert set_addresses(log) and not [a for a in set_addresses(log) if ota <= a < ota + 0x20000]   # no staging over DFU
    assert "photon-bootloader@2.2.0+lto.bin (bootloader v1006) -> Device OS installs it (control request): " \
           "to write" in out
    assert_release_in_flash(d, release_dirs, "2.2.0", "photon")
    assert d.led().startswith("breathing cyan")


@pytest.mark.parametrize("platform", ["photon", "electron", "argon", "boron"])
def test_up_to_date_device_stays_in_device_os(device, run, release_dirs, platform):
    d = device(platform, device_os="2.2.0")
    mark = len(d.log())
    code, out, err = run("update", d.device_id, "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 0, err
    log = d.log()[mark:]
    assert requests(log, 50) == []                        # never switched to DFU mode
    assert data_writes(log) == [] and "Switching device to DFU mode" not in out
    assert out.splitlines()[-2:] == ["Device OS 2.2.0 is already on the device: nothing to write.", "Update success!"]


def test_module_info_describes_flash(device, release_dirs):
    from particle_py.control import ControlSession, module_info
    from particle_py.ops.discovery import find_device

    device("argon", device_os="2.2.0")
    entry = find_device()
    with ControlSession(entry.usb_device) as session:
        info = module_info.read(session)
    got = {(m.function, m.index, m.version, m.valid) for m in info}
    assert {(F.BOOTLOADER, 0, 1006, True), (F.SYSTEM_PART, 1, 2202, True), (F.RADIO_STACK, 0, 202, True)} <= got
    part1 = next(m for m in info if m.function == F.SYSTEM_PART)
    assert part1.dependencies == ((F.BOOTLOADER, 0, 1005), (F.RADIO_STACK, 0, 202))


def test_module_info_flags_a_broken_module(device, release_dirs):
    from particle_py.control import ControlSession, module_info
    from particle_py.ops.discovery import find_device

    d = device("photon", device_os="2.2.0")
    d.poke(0, 0x08020000 + 100000, b"\x00" * 16)
    entry = find_device()
    with ControlSession(entry.usb_device) as session:
        info = module_info.read(session)
    part1 = next(m for m in info if m.function == F.SYSTEM_PART and m.index == 1)
    assert part1.version == 2202 and not part1.valid


def _send(data, name="x.bin"):
    from particle_py.control import ControlSession, firmware_update
    from particle_py.ops.discovery import find_device

    entry = find_device()
    with ControlSession(entry.usb_device) as session:
        firmware_update.update_firmware(session, name, data)


@pytest.mark.parametrize("case,expected", [
    ("other platform", "Invalid module platform"),
    ("bad crc", "Module integrity check failed"),
    ("system part", "Unsupported module"),
    ("unmet dependency", "Module dependency check failed"),
    ("not a module", "Invalid module format"),
])
def test_device_os_refuses_bad_modules(device, case, expected):
    from particle_py.errors import ParticlePyError

    d = device("photon", device_os="1.5.2")
    data = {
        "other platform": build_module("p1", function=F.BOOTLOADER, start=0x08000000, deps=(), size=8192),
        "bad crc": build_module("photon", function=F.BOOTLOADER, start=0x08000000, deps=(), size=8192, bad_crc=True),
        "system part": build_module("photon", function=F.SYSTEM_PART, index=1, start=0x08020000, deps=(), size=8192),
        "unmet dependency": build_module("photon", function=F.BOOTLOADER, start=0x08000000, size=8192,
                                         deps=((F.SYSTEM_PART, 1, 9999),)),
        "not a module": bytes(range(256)) * 8,
    }[case]
    before = d.peek(0, 0x08000000, 0x100000)
    with pytest.raises(ParticlePyError) as exc:
        _send(data)
    assert exc.value.message == f"The device refused x.bin (finish: {expected})"
    assert d.mode == "normal" and d.peek(0, 0x08000000, 0x100000) == before
    assert d.led().startswith("breathing cyan")


def test_oversized_module_is_refused_at_start(device):
    from particle_py.errors import ParticlePyError

    device("photon", device_os="1.5.2")
    with pytest.raises(ParticlePyError) as exc:
        _send(b"\x00" * (200 * 1024))
    assert exc.value.message == "The device refused x.bin (start: Data is too large)"


def test_flash_usb_accepts_a_bootloader(device, run, release_dirs, tmp_path):
    d = device("photon", mode="dfu", device_os="2.2.0")
    # an older bootloader in place, so the new one must really be installed
    d.poke(0, 0x08000000, build_module("photon", function=F.BOOTLOADER, start=0x08000000, deps=(), size=16384,
                                       version=501))
    name, boot = release_files(release_dirs, "2.2.0", "photon")[0]
    path = tmp_path / name
    path.write_bytes(boot)
    code, out, err = run("flash", "--usb", path)
    assert code == 0, err
    assert out.splitlines()[-1] == "Flash success!"
    assert d.peek(0, 0x08000000, len(boot)) == boot
    assert d.mode == "normal" and d.led().startswith("breathing cyan")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_module_info_parser_takes_any_bytes(raw):
    from particle_py.errors import ParticlePyError
    from particle_py.control.module_info import parse

    try:
        parse(raw)
    except ParticlePyError as err:
        assert err.message.startswith("The device's reply could not be read (")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_sim_request_parser_takes_any_bytes(raw):
    from particle_py.sim.protobuf import decode

    try:
        decode(raw)
    except ValueError:
        pass


def test_module_info_current_format_is_read():
    """Device OS 5.6+ answers in GetModuleInfoReply.modules (field 2, particle.cloud.FirmwareModule):
    checked/passed flags as fixed32, every store; update counts only the main store."""
    from particle_py.control.module_info import parse
    from particle_py.sim.protobuf import fixed32, message, uint

    dep = uint(1, F.BOOTLOADER) + uint(2, 0) + uint(3, 1101)
    good = (uint(1, F.SYSTEM_PART) + uint(2, 1) + uint(3, 4006) + fixed32(6, 0x1E)
            + fixed32(7, 0x1E) + message(9, dep) + uint(11, 500000))
    broken = (uint(1, F.BOOTLOADER) + uint(3, 1101) + fixed32(6, 0x1E) + fixed32(7, 0x1C))
    backup = uint(1, F.USER_PART) + uint(4, 2) + fixed32(6, 0) + fixed32(7, 0)
    info = parse(message(2, good) + message(2, broken) + message(2, backup))
    assert [(m.function, m.index, m.version, m.size, m.valid, m.dependencies, m.store) for m in info] == [
        (F.SYSTEM_PART, 1, 4006, 500000, True, ((F.BOOTLOADER, 0, 1101),), "main"),
        (F.BOOTLOADER, 0, 1101, 0, False, (), "main"),
        (F.USER_PART, 0, 0, 0, True, (), "backup"),
    ]
    assert info[1].validity_errors == ("INTEGRITY_CHECK_FAILED",)
