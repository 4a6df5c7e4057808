import pytest
from hypothesis import given, strategies as st

from particle_py.dfu import dfuse_file, suffix


def test_build_and_parse_two_targets():
    raw = dfuse_file.build([(0, [(0x08020000, b"a" * 10)]), (1, [(0, b"b" * 3)])], vendor=0x2B04, product=0xD006)
    loaded = suffix.load(raw)
    assert loaded.is_dfuse and (loaded.vendor, loaded.product) == (0x2B04, 0xD006)
    image = dfuse_file.parse(loaded.payload)
    assert [(t.alt, t.name, t.element_count, t.size) for t, _ in image.targets] == [(0, "ST...", 1, 18),
                                                                                    (1, "ST...", 1, 11)]
    assert [(e.address, e.data) for _, elems in image.targets for e in elems] == [(0x08020000, b"a" * 10),
                                                                                   (0, b"b" * 3)]


@pytest.mark.parametrize("mutate,key", [
    (lambda b: b[:20], "too_small"),
    (lambda b: b"DfuSx" + b[5:], "bad_signature"),
    (lambda b: b[:5] + b"\x02" + b[6:], "bad_revision"),
    (lambda b: b[:11] + b"Tarxet" + b[17:], "bad_target"),
    (lambda b: b[:-3], "element_too_big"),
])
def test_malformed_files(mutate, key):
    payload = suffix.load(dfuse_file.build([(0, [(0x08020000, b"z" * 40)])])).payload
    with pytest.raises(dfuse_file.DfuseFileError) as info:
        list(dfuse_file.iter_file(mutate(payload)))
    assert info.value.key == key


def test_leftover_bytes_reported():
    payload = suffix.load(dfuse_file.build([(0, [(0, b"z")])])).payload + b"junk"
    assert dfuse_file.parse(payload).leftover == 4


@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_defined_error(data):
    try:
        dfuse_file.parse(data)
    except dfuse_file.DfuseFileError as exc:
        assert exc.exit_code in (65, 66)


@given(st.lists(st.tuples(st.integers(0, 255), st.lists(st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=40)),
                                                        min_size=1, max_size=3)), min_size=1, max_size=4))
def test_build_parse_round_trip(targets):
    image = dfuse_file.parse(suffix.load(dfuse_file.build(targets)).payload)
    assert [(t.alt, [(e.address, e.data) for e in elems]) for t, elems in image.targets] == \
        [(alt, list(elems)) for alt, elems in targets]
    assert image.leftover == 0
