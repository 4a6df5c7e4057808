import struct
import zlib

import pytest
from hypothesis import given, strategies as st

from particle_py.dfu import suffix


def test_round_trip_and_fields():
    data = suffix.make_suffix(b"\x01\x02" * 50, vendor=0x2B04, product=0xD006)
    loaded = suffix.load(data)
    assert loaded.has_suffix and loaded.payload == b"\x01\x02" * 50
    assert (loaded.vendor, loaded.product, loaded.bcd_device, loaded.bcd_dfu) == (0x2B04, 0xD006, 0xFFFF, 0x0100)
    # the CRC is zlib's CRC-32 without the final XOR
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4]) ^ 0xFFFFFFFF


@pytest.mark.parametrize("data,reason", [
    (b"short", suffix.TOO_SHORT),
    (b"\0" * 32, suffix.BAD_SIGNATURE),
])
def test_missing_suffix_reasons(data, reason):
    loaded = suffix.load(data)
    assert loaded.missing_reason == reason and loaded.payload == data and loaded.vendor == suffix.ANY_ID


def test_bad_crc_is_a_missing_suffix():
    data = bytearray(suffix.make_suffix(b"abc" * 10))
    data[0] ^= 1
    assert suffix.load(bytes(data)).missing_reason == suffix.BAD_CRC


def _with_length(length):
    head = b"x" * 20 + struct.pack("<HHHH", 0xFFFF, 0xFFFF, 0xFFFF, 0x0100) + b"UFD" + bytes([length])
    return head + struct.pack("<I", suffix.crc32(head))


def test_suffix_length_errors():
    with pytest.raises(suffix.SuffixError, match="Unsupported DFU suffix length 15"):
        suffix.load(_with_length(15))
    with pytest.raises(suffix.SuffixError, match="Invalid DFU suffix length 200"):
        suffix.load(_with_length(200))


def test_stellaris_prefix_detected_only_with_matching_length():
    body = b"\x01\x00" + struct.pack("<H", 4) + struct.pack("<I", 10) + b"y" * 10
    loaded = suffix.load(suffix.make_suffix(body))
    assert loaded.prefix_type == suffix.LMDFU_PREFIX and loaded.lmdfu_address == 4096
    assert loaded.payload == b"y" * 10 and loaded.without_suffix == body


@given(st.binary(max_size=80))
def test_any_bytes_load_or_raise_suffix_error(data):
    try:
        loaded = suffix.load(data)
    except suffix.SuffixError as exc:
        assert exc.exit_code == 65
        return
    assert loaded.payload == data[loaded.prefix_length:len(data) - loaded.suffix_length]


@given(st.binary(max_size=200), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_make_then_load(payload, vid, pid):
    loaded = suffix.load(suffix.make_suffix(payload, vid, pid))
    assert loaded.has_suffix and (loaded.vendor, loaded.product) == (vid, pid)
    assert loaded.without_suffix == payload
