"""The client's protobuf reading (control/protobuf.py) and GetModuleInfo parser (control/module_info.py),
shared by `particle update` and `particle serial inspect`: whatever bytes a device sends, the
result is a list of modules or a ProtoError (a ParticlePyError saying the reply could not be
read), never another exception. The simulator's encoder (sim/device_info.py, sim/protobuf.py)
is the other side of the same wire."""
import pytest
from hypothesis import given, settings, strategies as st

from particle_py.errors import ParticlePyError
from particle_py.control import module_info, protobuf
from particle_py.sim import device_info
from particle_py.sim import protobuf as sim_protobuf

U32 = st.integers(0, 2**32 - 1)
FUNCTIONS = st.sampled_from(sorted(device_info.FUNCTION_LETTERS))


def _slot(location):
    return device_info.Slot("s", 1, 0x08020000, 262144, location)


REPORTS = st.builds(
    device_info.ModuleReport,
    slot=st.sampled_from(["m", "f", "b", "t"]).map(_slot),
    function=FUNCTIONS, index=st.integers(0, 255), version=st.integers(0, 0xFFFF),
    size=st.integers(4, 262144), platform_id=st.integers(0, 0xFFFF),
    deps=st.lists(st.tuples(FUNCTIONS, st.integers(0, 255), st.integers(0, 0xFFFF)), max_size=2).map(tuple),
    sha256=st.one_of(st.none(), st.binary(min_size=32, max_size=32)),
    passed=st.integers(0, 0x1E).map(lambda bits: bits & device_info.ALL_CHECKS))


def _parse_or_proto_error(data):
    try:
        return module_info.parse(data)
    except protobuf.ProtoError as err:
        assert isinstance(err, ParticlePyError) and err.exit_code == 76
        assert err.message.startswith("The device's reply could not be read (") and err.hint
        return None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_say_the_reply_could_not_be_read(data):
    _parse_or_proto_error(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(REPORTS, max_size=5))
def test_current_format_round_trips(reports):
    """5.6+: every store, max size, hash, checked/passed flags, size with the CRC."""
    parsed = module_info.parse(device_info.module_info_reply(reports, new_format=True))
    assert [(m.function, m.index, m.version, m.size, m.max_size, m.store, m.dependencies) for m in parsed] == [
        (r.function, r.index, r.version, r.size, 262144,
         {"m": "main", "f": "factory", "b": "backup", "t": "scratchpad"}[r.slot.location], r.deps)
        for r in reports]
    assert [m.valid for m in parsed] == [r.passed == device_info.ALL_CHECKS for r in reports]
    assert [m.hash for m in parsed] == [(r.sha256 or b"").hex() for r in reports]


@settings(max_examples=200, deadline=None)
@given(st.lists(REPORTS, max_size=5))
def test_deprecated_format_round_trips(reports):
    """0.8-5.5: main store and known kinds only, failed integrity/dependencies bits, size
    without the CRC word, no max size or hash."""
    parsed = module_info.parse(device_info.module_info_reply(reports, new_format=False))
    listed = [r for r in reports if r.slot.location == "m" and r.function in device_info.LEGACY_TYPE]
    known = set(device_info.LEGACY_TYPE)
    assert [(m.function, m.index, m.version, m.size, m.max_size, m.hash) for m in parsed] == [
        (r.function, r.index, r.version, r.size - 4, None, None) for r in listed]
    assert [m.dependencies for m in parsed] == [tuple(d for d in r.deps if d[0] in known) for r in listed]
    assert [m.valid for m in parsed] == [
        bool(r.passed & device_info.INTEGRITY and r.passed & device_info.DEPENDENCIES) for r in listed]


@settings(max_examples=300, deadline=None)
@given(st.lists(REPORTS, min_size=1, max_size=3), st.booleans(), st.data())
def test_a_cut_or_damaged_reply_is_parsed_or_refused(reports, new_format, data):
    reply = bytearray(device_info.module_info_reply(reports, new_format))
    if not reply:
        return
    if data.draw(st.booleans()):
        reply = reply[:data.draw(st.integers(0, len(reply) - 1))]
    else:
        reply[data.draw(st.integers(0, len(reply) - 1))] ^= data.draw(st.integers(1, 255))
    _parse_or_proto_error(bytes(reply))


@given(st.integers(1, 8), U32, st.binary(max_size=64))
def test_requests_the_client_encodes_are_what_the_simulator_decodes(number, value, blob):
    """StartFirmwareUpdate {size}, FirmwareUpdateData {data}, GetInterfaceRequest {index}."""
    payload = protobuf.number_field(number, value) + protobuf.bytes_field(number + 1, blob)
    fields = sim_protobuf.decode(payload)
    assert sim_protobuf.first(fields, number) == value and sim_protobuf.first(fields, number + 1, b"") == blob
    message = protobuf.Message(payload)
    assert (message.uint(number), message.bytes(number + 1)) == (value, blob)


def test_a_field_of_the_wrong_kind_is_refused():
    with pytest.raises(protobuf.ProtoError) as exc:
        module_info.parse(sim_protobuf.uint(1, 5))       # modules_deprecated must be messages
    assert exc.value.message == "The device's reply could not be read (field 1 is not a message)"
