"""The bundle parser takes outside input (a file a user copied around): whatever the bytes, it
returns a bundle whose every file matches its manifest, or raises ParticlePyError."""
import hashlib
import io
import json
import zipfile

from hypothesis import HealthCheck, given, settings, strategies as st

from particle_py.errors import ParticlePyError
from particle_py.firmware import bundle
from particle_py.platforms import by_name

BORON = by_name("boron")
# stand-in contents: the parser checks the bundle, not the modules (sources.check_file does that)
FILES = [("boron-bootloader@4.0.2.bin", "bootloader", b"\x01" * 300),
         ("boron-system-part1@4.0.2.bin", "system part 1", bytes(range(256)) * 4),
         ("tinker-0.8.0-rc.27-boron.bin", "tinker", b"\x7f" * 90)]
GOOD = bundle.build(BORON, "4.0.2", FILES)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _holds(result: bundle.Bundle) -> None:
    for f in result.files:
        assert hashlib.sha256(f.data).hexdigest() == f.sha256


def _parse(data: bytes):
    try:
        result = bundle.parse(data, "b.zip")
    except ParticlePyError as err:
        assert err.message.startswith("b.zip is not a usable restore bundle: ")
        return None
    _holds(result)
    return result


def test_a_good_bundle_reads_back_whole():
    result = bundle.parse(GOOD, "b.zip")
    assert (result.platform, result.platform_id, result.version) == ("boron", 13, "4.0.2")
    assert [(f.name, f.role, f.data) for f in result.files] == FILES
    assert result.tinker.name == "tinker-0.8.0-rc.27-boron.bin" and len(result.device_os_files) == 2
    assert bundle.build(BORON, "4.0.2", FILES) == GOOD          # the same files make the same bundle


@FAST
@given(st.binary(max_size=2000))
def test_any_bytes(data):
    _parse(data)


@FAST
@given(st.integers(0, len(GOOD) - 1))
def test_every_cut(length):
    assert _parse(GOOD[:length]) is None


@FAST
@given(st.integers(0, len(GOOD) - 1), st.integers(1, 255))
def test_any_changed_byte(offset, xor):
    changed = bytearray(GOOD)
    changed[offset] ^= xor
    result = _parse(bytes(changed))
    if result is not None:       # a byte zip does not read (a timestamp, an unused field): the files are intact
        assert [(f.name, f.role, f.data) for f in result.files] == FILES


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                   max_size=5), max_leaves=20)
_FIELD = st.sampled_from(["format", "format_version", "platform", "platform_id", "device_os", "files"])
_ENTRY_FIELD = st.sampled_from(["name", "role", "size", "sha256"])


def _with_manifest(manifest) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(bundle.MANIFEST, json.dumps(manifest))
        for name, _role, data in FILES:
            z.writestr(name, data)
    return out.getvalue()


def _manifest() -> dict:
    with zipfile.ZipFile(io.BytesIO(GOOD)) as z:
        return json.loads(z.read(bundle.MANIFEST))


@FAST
@given(_FIELD, _JSON)
def test_any_manifest_field(name, value):
    manifest = _manifest()
    manifest[name] = value
    _parse(_with_manifest(manifest))


@FAST
@given(st.integers(0, len(FILES) - 1), _ENTRY_FIELD, _JSON)
def test_any_manifest_entry_field(index, name, value):
    manifest = _manifest()
    manifest["files"][index][name] = value
    result = _parse(_with_manifest(manifest))
    if result is not None:
        assert [(f.name, f.data) for f in result.files] == [(n, d) for n, _r, d in FILES]


def test_the_refusals_say_what_is_wrong():
    manifest = _manifest()
    manifest["format_version"] = 2
    try:
        bundle.parse(_with_manifest(manifest), "b.zip")
    except ParticlePyError as err:
        assert err.message == ("b.zip is not a usable restore bundle: it is format 2; this particle-py reads format 1 "
                               "(a newer particle-py may read it)")
    else:
        raise AssertionError("format 2 was read")
    manifest = _manifest()
    manifest["files"] = manifest["files"][:2]
    try:
        bundle.parse(_with_manifest(manifest), "b.zip")
    except ParticlePyError as err:
        assert err.message == ("b.zip is not a usable restore bundle: it holds tinker-0.8.0-rc.27-boron.bin, which "
                               "its manifest does not list")
    else:
        raise AssertionError("an unlisted file was read")
