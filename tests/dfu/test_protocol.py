from hypothesis import given, strategies as st

from particle_py.dfu import protocol as p


def test_status_decoding_and_texts():
    status = p.parse_status(bytes([3, 0x10, 0x27, 0, 10, 0]))
    assert (status.status, status.poll_timeout, status.state) == (3, 10000, 10)
    assert status.state_name == "dfuERROR" and status.status_text == "Device is unable to write memory"
    assert p.state_name(11) == "(null)" and p.status_text(16) == "INVALID"


def test_functional_descriptor_and_search():
    extra = bytes([5, 0x24, 0, 0, 0]) + bytes([9, 0x21, 0x0B, 0xFF, 0, 0, 0x10, 0x1A, 0x01])
    func = p.FunctionalDescriptor.parse(p.find_functional(extra))
    assert (func.length, func.attributes, func.detach_timeout, func.transfer_size, func.dfu_version) == \
        (9, 0x0B, 255, 4096, 0x011A)


def test_libusb_codes_from_pyusb_errors():
    class Err(Exception):
        def __init__(self, errno=None, backend_error_code=None):
            self.errno, self.backend_error_code = errno, backend_error_code
    assert p.libusb_code(Err(backend_error_code=-3)) == -3
    assert p.libusb_code(Err(errno=32)) == p.LIBUSB_ERROR_PIPE
    assert p.libusb_error_name(-4) == "LIBUSB_ERROR_NO_DEVICE"


@given(st.binary(max_size=12))
def test_any_status_reply_decodes(raw):
    status = p.parse_status(raw)
    assert 0 <= status.poll_timeout < 1 << 24 and isinstance(status.state_name, str)


@given(st.binary(max_size=64))
def test_any_extra_descriptor_bytes_are_searched_safely(extra):
    found = p.find_functional(extra)
    if found is not None:
        func = p.FunctionalDescriptor.parse(found)
        assert 0 <= func.transfer_size <= 0xFFFF


def test_quirks_are_looked_up_by_ids():
    assert p.quirks_for(0x1D50, 0x5119, 0x0100) == {p.QUIRK_POLLTIMEOUT}
    assert p.quirks_for(0x0908, 0x02C4, 0x0001) == frozenset()       # Siemens: bcdDevice 0 only
    assert p.quirks_for(0x1EAF, 0x0003, 0x0200) == {p.QUIRK_FORCE_DFU11}
    assert p.quirks_for(0x2B04, 0xD006, 0x0200) == frozenset()


@given(st.binary(max_size=12))
def test_a_status_reply_of_any_other_length_reads_as_dfu_error(raw):
    """dfu.c dfu_get_status: the fields are taken only from an answer of exactly 6 bytes; otherwise
    they keep errUNKNOWN / dfuERROR / poll 0 (so a short answer is never read as appIDLE)."""
    status = p.parse_status(raw)
    if len(raw) == 6:
        assert (status.status, status.state, status.istring) == (raw[0], raw[4], raw[5])
        assert status.poll_timeout == int.from_bytes(raw[1:4], "little")
    else:
        assert (status.status, status.poll_timeout, status.state, status.istring) == (14, 0, 10, 0)
