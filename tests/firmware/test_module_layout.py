"""module_layout: the prefix, head and CRC readers that the simulator and the client share, on
any bytes a file or a flash read can hold."""
import struct
import zlib

from hypothesis import given, strategies as st

from particle_py import module_layout as layout
from particle_py.sim.contents import build_module

FIELDS = st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 255), st.integers(0, 255),
                   st.integers(0, 2**16 - 1), st.integers(0, 2**16 - 1), st.integers(0, 255), st.integers(0, 255),
                   st.integers(0, 255), st.integers(0, 255), st.integers(0, 2**16 - 1),
                   st.integers(0, 255), st.integers(0, 255), st.integers(0, 2**16 - 1))


@given(raw=st.binary(max_size=64), offset=st.integers(-4, 64))
def test_any_bytes_give_a_prefix_or_none_never_an_exception(raw, offset):
    prefix, head = layout.unpack_prefix(raw, offset), layout.unpack_head(raw, offset)
    assert (prefix is None) == (offset < 0 or len(raw) < offset + 24)
    assert (head is None) == (offset < 0 or len(raw) < offset + 14)
    if prefix is not None:
        assert tuple(head) == tuple(prefix)[:6]
        assert prefix.size == prefix.end - prefix.start + 4
        assert all(function for function, _index, _version in prefix.dependencies)


@given(fields=FIELDS, pad=st.binary(max_size=8))
def test_a_packed_prefix_reads_back_field_for_field(fields, pad):
    prefix = layout.unpack_prefix(pad + struct.pack("<IIBBHHBBBBHBBH", *fields), len(pad))
    assert tuple(prefix) == fields
    assert prefix.dependencies == tuple(d for d in (fields[8:11], fields[11:14]) if d[0])


@given(body=st.binary(max_size=300))
def test_crc_matches_only_a_body_that_ends_with_its_own_crc(body):
    sealed = body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    assert layout.crc_matches(sealed)
    if len(body) >= 4:
        assert layout.crc_matches(body) == (zlib.crc32(body[:-4]) & 0xFFFFFFFF == int.from_bytes(body[-4:], "big"))
    else:
        assert not layout.crc_matches(body)


def test_a_built_module_is_plausible_where_it_starts_and_nowhere_else():
    module = build_module("photon", size=5000)
    prefix = layout.unpack_prefix(module, 0x184)
    assert prefix.plausible_at(prefix.start) and not prefix.plausible_at(prefix.start + 4)
    assert prefix.size == len(module) and layout.crc_matches(module)
