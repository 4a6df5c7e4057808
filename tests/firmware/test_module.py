import hashlib
import struct
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from helpers.modules import build_module
from particle_py.cli.particle.main import main
from particle_py.firmware.module import (ModuleFlags, ModuleFunction, find_prefix, parse,
                                         parse_suffix)

PLATFORMS = ["core", "photon", "p1", "electron", "argon", "boron", "p2"]


@pytest.mark.parametrize("name", PLATFORMS)
def test_built_modules_parse_back(name):
    data = build_module(name, size=6000, version=1234, deps=((4, 2, 207), (2, 0, 11)))
    m = parse(data)
    assert m.crc_ok and m.sha256_ok and m.has_info
    p = m.prefix
    assert (p.version, p.function, p.index) == (1234, ModuleFunction.USER_PART, 1)
    assert [(d.function, d.index, d.version) for d in p.dependencies] == [(4, 2, 207), (2, 0, 11)]
    assert p.size == len(data)


def test_prefix_fields_are_little_endian_and_crc_is_big_endian():
    data = build_module("photon", size=1000)
    m = parse(data)
    assert m.prefix.offset == 0x184
    assert m.prefix.start == 0x080A0000 and m.prefix.end == 0x080A0000 + 1000 - 4
    assert data[-4:] == struct.pack(">I", zlib.crc32(data[:-4]) & 0xFFFFFFFF)
    assert m.stored_crc == m.actual_crc == struct.unpack(">I", data[-4:])[0]


def test_scan_finds_prefix_at_unusual_offset():
    m = parse(build_module("argon", size=3000, prefix_offset=0x400))
    assert m.prefix is not None and m.prefix.offset == 0x400 and m.prefix.platform_id == 12


def test_bad_crc_and_bad_sha_are_reported():
    assert not parse(build_module("boron", bad_crc=True)).crc_ok
    m = parse(build_module("boron", bad_sha=True))
    assert m.crc_ok and m.sha256_ok is False


def test_suffix_product_data_and_extensions():
    ext = struct.pack("<HH", 0x11, 8) + b"tink" + struct.pack("<HH", 0, 4)
    data = build_module("p2", size=5000, product_id=8178, product_version=13, suffix_extensions=ext)
    s = parse_suffix(data)
    assert (s.size, s.product_id, s.product_version) == (52, 8178, 13)
    assert [(e.name, e.data) for e in s.extensions] == [("NAME", b"tink"), ("END", b"")]
    assert s.sha256 == hashlib.sha256(data[:-38]).digest()


def test_truncated_file_has_no_prefix_but_is_recognised_as_truncated():
    m = parse(build_module("electron", size=8000)[:5000])
    assert m.prefix is None
    assert m.truncated_prefix is not None and m.truncated_prefix.size == 8000


@pytest.mark.parametrize("data", [b"", b"\x00" * 10, b"\xff" * 4096, bytes(range(256)) * 40])
def test_non_modules_have_no_prefix(data):
    m = parse(data)
    assert m.prefix is None and not m.has_info


def test_drop_module_info_payload_skips_prefix():
    data = build_module("argon", function=ModuleFunction.RADIO_STACK, index=0, prefix_offset=0,
                        flags=ModuleFlags.DROP_MODULE_INFO, deps=(), size=2048)
    m = parse(data)
    assert m.prefix.drop_module_info and m.payload() == data[24:]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=9000))
def test_random_bytes_never_crash_the_parser(data):
    m = parse(data)
    if m.prefix is not None:
        assert m.prefix.end > m.prefix.start and len(data) >= m.prefix.size


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PLATFORMS), st.integers(0, 4999), st.integers(0, 255))
def test_single_byte_corruption_is_caught_by_crc(name, pos, xor):
    data = bytearray(build_module(name, size=5000))
    data[pos] ^= xor or 1
    m = parse(bytes(data))
    assert not (m.crc_ok and m.sha256_ok)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600), st.binary(max_size=600))
def test_module_embedded_in_noise_is_found_or_absent_never_wrong(head, tail):
    data = head + build_module("photon", size=1000) + tail
    p = find_prefix(data)
    assert p is None or p.end > p.start


# --- the `particle binary inspect` front end ------------------------------------------------

def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_prints_what_particle_cli_prints(tmp_path, capsys):
    f = tmp_path / "app.bin"
    f.write_bytes(build_module("argon", product_id=12, product_version=3, deps=((4, 1, 4006),)))
    crc = parse(f.read_bytes()).actual_crc
    code, out, err = run(capsys, "binary", "inspect", str(f))
    assert code == 0 and err == ""
    assert out.splitlines() == [
        "app.bin", " CRC is ok (%08x)" % crc, " Compiled for argon",
        " This is an application module number 1 at version 6",
        " It is firmware for product id 12 at version 3",
        " It depends on a system module number 1 at version 4006"]


def test_inspect_system_part_and_unknown_platform(tmp_path, capsys):
    f = tmp_path / "sys.bin"
    f.write_bytes(build_module("photon", function=ModuleFunction.SYSTEM_PART, index=2, version=207,
                               platform_id=999, deps=((4, 1, 207),)))
    code, out, _ = run(capsys, "binary", "inspect", str(f))
    assert code == 0
    assert out.splitlines()[2:] == [" Compiled for unknown platform (ID: 999)",
                                    " This is a system module number 2 at version 207",
                                    " It depends on a system module number 1 at version 207"]


def test_inspect_bad_crc(tmp_path, capsys):
    f = tmp_path / "bad.bin"
    f.write_bytes(build_module("p1", bad_crc=True))
    m = parse(f.read_bytes())
    code, out, _ = run(capsys, "binary", "inspect", str(f))
    assert code == 0
    assert out.splitlines()[1] == " CRC failed (should be %08x but is %08x)" % (m.stored_crc, m.actual_crc)


def test_inspect_missing_and_headerless(tmp_path, capsys):
    code, out, err = run(capsys, "binary", "inspect", str(tmp_path / "nope.bin"))
    assert code == 1 and out == "" and err.splitlines()[0] == f"Binary file not found {tmp_path / 'nope.bin'}"
    f = tmp_path / "random.bin"
    f.write_bytes(bytes(range(256)) * 8)
    code, out, err = run(capsys, "binary", "inspect", str(f))
    assert code == 1 and out == ""
    assert err.splitlines()[0] == f"{f} does not contain inspection information"


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PLATFORMS), st.integers(0, 9), st.integers(0, 255), st.integers(0, 0xFFFF),
       st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=40))
def test_describe_never_crashes_on_odd_header_values(name, function, index, version, platform_id, product, ext):
    from particle_py.errors import ParticlePyError
    from particle_py.firmware.describe import describe

    data = build_module(name, function=function or 5, index=index, start=0x1000, version=version, platform_id=platform_id,
                        product_id=product, suffix_extensions=ext, size=2048)
    try:
        lines = describe(parse(data), "x.bin")
    except ParticlePyError:
        return
    assert lines[0] == "x.bin" and lines[1].startswith(" CRC ")


def test_flash_without_usb_and_without_files(capsys):
    assert main(["flash", "x.bin"]) == 64
    assert capsys.readouterr().err.startswith("particle-py flashes over USB only: add --usb")
    assert main(["flash", "--usb"]) == 1
    assert capsys.readouterr().err.startswith("You must specify a device or a file")
