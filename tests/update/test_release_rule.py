"""The release-file rule of `particle update` (issue 23, findings 1-5, 12, 13; issue 22): a module
it writes is Device OS, what its name and header say, for the version asked, at the slot its
function owns, and proven by Device OS running it; --from files are read by one reader that
refuses what is not a regular file and turns every archive error into a clean message."""
import os
import shutil
import struct
import zipfile

import pytest

from particle_py.firmware.module import ModuleFunction as F
from test_update import _snapshot, assert_release_in_flash, data_writes, release_files

P2_PART1 = 0x08060000


def p2_part(version=5900, **kw):
    from helpers.modules import build_module

    kw.setdefault("deps", ())
    kw.setdefault("seed", 5)
    return build_module("p2", function=F.SYSTEM_PART, index=1, version=version, size=64 * 1024,
                        start=kw.pop("start", P2_PART1), **kw)


def refused(d, run, *args, first=None, contains=None):
    """The update is refused with our error (not exit 70), the device untouched."""
    before = _snapshot(d)
    mark = len(d.log())
    code, out, err = run("update", *args)
    assert code not in (0, 70), (code, out, err)
    assert "internal error" not in err and "success" not in out.lower()
    line = err.splitlines()[0]
    if first is not None:
        assert line == first, line
    if contains is not None:
        assert contains in line, line
    assert "Nothing was written to the device" in err, err
    assert data_writes(d.log()[mark:]) == [] and _snapshot(d) == before
    return line


@pytest.fixture
def p2(device, tmp_path):
    d = device("p2", mode="dfu", device_os=None)
    folder = tmp_path / "p2-5.9.0"
    folder.mkdir()
    return d, folder


# --- finding 1: the header's version is the target's -------------------------------------------

def test_a_file_named_for_the_target_whose_header_is_another_version_is_refused(p2, run):
    d, folder = p2
    (folder / "p2-system-part1@5.9.0.bin").write_bytes(p2_part(version=1000))
    refused(d, run, "--target", "5.9.0", "--from", folder, "--no-download",
            first=f"p2-system-part1@5.9.0.bin ({folder / 'p2-system-part1@5.9.0.bin'}) is not Device OS 5.9.0: "
                  "its header says module version 1000, Device OS 1.0.x")


@pytest.mark.parametrize("name", ["p2-system-part1@5.9.0-rc.1.bin", "p2-system-part1@5.9.01.bin"])
def test_a_file_named_for_another_version_is_not_taken_for_the_target(p2, run, name):
    d, folder = p2
    (folder / name).write_bytes(p2_part(version=1000))
    refused(d, run, "--target", "5.9.0", "--from", folder, "--no-download",
            first="Device OS 5.9.0 for Photon 2 / P2 is not available here: downloading is off")


def test_two_zip_members_of_one_name_are_refused(p2, run, tmp_path):
    d, _folder = p2
    z = tmp_path / "two.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a/p2-system-part1@5.9.0.bin", p2_part(seed=1))
        zf.writestr("b/p2-system-part1@5.9.0.bin", p2_part(seed=2))
    refused(d, run, "--target", "5.9.0", "--from", z, "--no-download",
            first=f"--from {z}: 2 different files are named p2-system-part1@5.9.0.bin")


# --- finding 2: a user app is no release --------------------------------------------------------

def test_a_user_app_named_as_the_system_part_is_refused(p2, run):
    from helpers.modules import build_module

    d, folder = p2
    app = build_module("p2", function=F.USER_PART, size=8192, deps=())
    (folder / "p2-system-part1@5.9.0.bin").write_bytes(app)
    line = refused(d, run, "--target", "5.9.0", "--from", folder, "--no-download")
    assert line.endswith("is a user application (its module header), not part of Device OS"), line


def test_a_release_of_no_system_part_is_not_already_on_the_device(p2, run):
    from helpers.modules import build_module

    d, folder = p2
    (folder / "p2-tinker@5.9.0.bin").write_bytes(build_module("p2", function=F.USER_PART, size=8192, deps=()))
    code, out, err = run("update", "--target", "5.9.0", "--from", folder, "--no-download")
    assert code == 1 and "already on the device" not in out and "success" not in out.lower()


# --- finding 4: a system part goes to its slot --------------------------------------------------

def test_a_system_part_linked_at_the_user_app_address_is_refused(p2, run):
    from particle_py.platforms import by_name

    d, folder = p2
    app_at = by_name("p2").user_part.address
    (folder / "p2-system-part1@5.9.0.bin").write_bytes(p2_part(start=app_at))
    refused(d, run, "--target", "5.9.0", "--from", folder, "--no-download",
            contains=f"is system part 1 linked at 0x{app_at:08x}; Photon 2 / P2 keeps it at 0x{P2_PART1:08x}")


# --- finding 3: proven by Device OS running it, not by a read-back -------------------------------

def test_a_module_device_os_does_not_accept_is_no_success(p2, run):
    d, folder = p2
    part = p2_part(deps=((F.BOOTLOADER, 0, 60000),))        # a bootloader no device has
    (folder / "p2-system-part1@5.9.0.bin").write_bytes(part)
    code, out, err = run("update", "--target", "5.9.0", "--from", folder, "--no-download")
    assert code == 1, (out, err)
    assert "success" not in out.lower() and "Verified" not in out
    assert out.splitlines()[-1] == "Flash failed."
    assert err.splitlines()[0] == ("Device OS 5.9.0 is not running after the update: Device OS does not accept "
                                   "p2-system-part1@5.9.0.bin")
    assert "DEPENDENCY_CHECK_FAILED" in err and "bootloader v60000" in err
    assert d.peek(0, P2_PART1, len(part)) == part            # the bytes are there; the update is not


# --- finding 5: the files the user names win over the cache -------------------------------------

def test_from_wins_over_a_cached_file_and_the_cache_keeps_only_what_agrees(p2, run):
    from particle_py.firmware import sources

    d, folder = p2
    good = p2_part(seed=5)
    (folder / "p2-system-part1@5.9.0.bin").write_bytes(good)
    cached = sources.cache_dir() / "5.9.0" / "p2"
    cached.mkdir(parents=True)
    (cached / "p2-system-part1@5.9.0.bin").write_bytes(p2_part(seed=9))      # another build, once downloaded
    code, out, err = run("update", "--target", "5.9.0", "--from", folder, "--no-download")
    assert code == 0, err
    assert d.peek(0, P2_PART1, len(good)) == good
    # a cached file whose header is not its name's release is dropped, not flashed
    (cached / "p2-system-part1@5.9.0.bin").write_bytes(p2_part(version=1000))
    refused(d, run, "--target", "5.9.0", "--no-download",
            first="Device OS 5.9.0 for Photon 2 / P2 is not available here: downloading is off")
    assert not (cached / "p2-system-part1@5.9.0.bin").exists()


def test_a_damaged_pinned_cache_file_is_dropped_for_the_one_in_from(device, run, release_dirs):
    from particle_py.firmware import sources

    d = device("photon", mode="dfu")
    cached = sources.cache_dir() / "2.2.0" / "photon"
    cached.mkdir(parents=True)
    (cached / "photon-system-part1@2.2.0.bin").write_bytes(b"\0" * 1000)
    code, out, err = run("update", "--target", "2.2.0", "--from", release_dirs[0], "--no-download")
    assert code == 0, err
    assert_release_in_flash(d, release_dirs, "2.2.0", "photon")


# --- release files found by content, and the one release in --from --------------------------------

def test_release_files_are_found_by_content_whatever_their_names(device, run, release_dirs, tmp_path):
    d = device("photon", mode="dfu")
    folder = tmp_path / "renamed"
    folder.mkdir()
    for n, (name, data) in enumerate(release_files(release_dirs, "2.2.0", "photon")):
        new = f"system-part{n}-2.2.0-photon.bin" if "system-part" in name else f"file{n}.bin"
        (folder / new).write_bytes(data)
    code, out, err = run("update", "--target", "2.2.0", "--from", folder, "--no-download")
    assert code == 0, err
    assert_release_in_flash(d, release_dirs, "2.2.0", "photon")


def test_no_target_and_one_release_in_from_means_that_release(p2, run):
    d, folder = p2
    part = p2_part()
    (folder / "p2-system-part1@5.9.0.bin").write_bytes(part)
    code, out, err = run("update", "--from", folder, "--no-download")
    assert code == 0, err
    assert f"No --target given: Device OS 5.9.0 is the one Device OS release for Photon 2 / P2 in {folder}." in out
    assert d.peek(0, P2_PART1, len(part)) == part


# --- finding 12 and 13: what is not a regular file, and every archive error ---------------------

def test_a_fifo_named_like_a_module_is_refused(p2, run):
    d, folder = p2
    os.mkfifo(folder / "p2-system-part1@5.9.0.bin")
    refused(d, run, "--target", "5.9.0", "--from", folder, "--no-download",
            first=f"{folder / 'p2-system-part1@5.9.0.bin'}: not a regular file (a FIFO, a device or a socket)")


def test_a_dangling_symlink_is_refused(p2, run):
    d, folder = p2
    os.symlink(folder / "gone.bin", folder / "p2-system-part1@5.9.0.bin")
    refused(d, run, "--target", "5.9.0", "--from", folder, "--no-download",
            first=f"{folder / 'p2-system-part1@5.9.0.bin'}: not a file (a link to nothing)")


def _zip_of(path, data, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("p2-system-part1@5.9.0.bin", data)
    return bytearray(path.read_bytes())


def _patch_headers(raw, offset_local, offset_central, value, fmt):
    """Set a field in the local header and the central directory entry of the only member."""
    local = raw.index(b"PK\x03\x04")
    central = raw.index(b"PK\x01\x02")
    struct.pack_into(fmt, raw, local + offset_local, value)
    struct.pack_into(fmt, raw, central + offset_central, value)
    return raw


@pytest.mark.parametrize("damage,says", [
    ("encrypted", "p2-system-part1@5.9.0.bin is encrypted"),
    ("compression", "p2-system-part1@5.9.0.bin uses compression method 99, which cannot be read"),
    ("deflate", "p2-system-part1@5.9.0.bin: "),
])
def test_every_archive_error_is_a_clean_message(p2, run, tmp_path, damage, says):
    d, _folder = p2
    z = tmp_path / "release.zip"
    raw = _zip_of(z, p2_part())
    if damage == "encrypted":
        raw = _patch_headers(raw, 6, 8, 0x1, "<H")
    elif damage == "compression":
        raw = _patch_headers(raw, 8, 10, 99, "<H")
    else:
        local = raw.index(b"PK\x03\x04")
        start = local + 30 + len("p2-system-part1@5.9.0.bin")
        for i in range(start + 10, start + 400):
            raw[i] ^= 0x5A
    z.write_bytes(bytes(raw))
    line = refused(d, run, "--target", "5.9.0", "--from", z, "--no-download")
    assert line.startswith(f"--from {z}: cannot be read ({says}"), line


# --- issue 22: messages that do not contradict themselves ---------------------------------------

def test_no_download_does_not_ask_a_logged_in_user_to_log_in(device, run, isolated_home):
    import json

    d = device("photon")
    config = isolated_home / ".particle" / "particle.config.json"
    settings = json.loads(config.read_text())
    settings.update(access_token="tok-123")
    config.write_text(json.dumps(settings))
    code, out, err = run("update", "--target", "9.9.9", "--no-download")
    assert code == 1
    assert "particle login" not in err and "without --no-download" in err


# --- properties: the parsers of names and archives take any input --------------------------------

from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@PROPS
@given(st.text(max_size=80))
def test_any_file_name_says_something_or_nothing(name):
    from particle_py.firmware.sources import name_says

    said = name_says(name)
    if said.version is not None:
        assert said.platform and said.function in (F.SYSTEM_PART, F.BOOTLOADER, F.RADIO_STACK)
        assert "+" not in said.version


@PROPS
@given(st.integers(0, 12), st.integers(0, 12), st.integers(0, 120), st.integers(0, 20000))
def test_a_module_version_fits_exactly_one_release_patch_range(major, minor, patch, number):
    from particle_py.firmware.sources import system_part_versions

    allowed = system_part_versions(f"{major}.{minor}.{patch}")
    if allowed is None:
        assert major == 0 or minor > 9 or patch > 99
    else:
        assert (number in allowed) == (major * 1000 + minor * 100 + patch <= number < major * 1000 + minor * 100 + 100)


@PROPS
@given(st.binary(max_size=600), st.integers(0, 599), st.integers(0, 255))
@example(b"\x00", 412, 0)                     # a member name emptied: ZipInfo.is_dir() raised IndexError
def test_any_damaged_zip_is_read_or_refused_with_our_error(tail, where, value):
    import io
    import tempfile

    from particle_py.errors import ParticlePyError
    from particle_py.firmware.user_files import UserFiles

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("p2-system-part1@5.9.0.bin", tail * 3)
    raw = bytearray(buf.getvalue())
    raw[where % len(raw)] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.zip")
        with open(path, "wb") as fh:
            fh.write(bytes(raw))
        try:
            files = UserFiles(path, limit=1 << 16)
            for name in list(files.names):
                files.read(name)
        except ParticlePyError as err:
            assert err.message.startswith(f"--from {path}: ")


def test_the_app_in_a_release_folder_is_left_out(p2, run):
    """Particle's P2 release holds p2-tinker@<v>.bin: an app, left out as particle-cli does."""
    from helpers.modules import build_module

    d, folder = p2
    part = p2_part()
    (folder / "p2-system-part1@5.9.0.bin").write_bytes(part)
    (folder / "p2-tinker@5.9.0.bin").write_bytes(build_module("p2", function=F.USER_PART, size=8192, deps=()))
    code, out, err = run("update", "--target", "5.9.0", "--from", folder, "--no-download")
    assert code == 0, err
    assert "p2-tinker" not in out
    assert d.peek(0, P2_PART1, len(part)) == part


# --- a release whose system parts do not start together is refused before the device is touched --

def test_system_parts_that_do_not_meet_each_others_dependencies_are_refused(device, run, tmp_path):
    """Part 2 needs part 1 v9100 and part 1 is v9000: written, the Photon would stay in DFU mode
    (blinking yellow). Refused with the reason; the flash is as it was."""
    from helpers.modules import build_module

    d = device("photon", mode="dfu", device_os="2.2.0")
    folder = tmp_path / "photon-9.0.0"
    folder.mkdir()
    (folder / "photon-system-part1@9.0.0.bin").write_bytes(
        build_module("photon", function=F.SYSTEM_PART, index=1, version=9000, size=6000, deps=(), seed=41))
    (folder / "photon-system-part2@9.0.0.bin").write_bytes(
        build_module("photon", function=F.SYSTEM_PART, index=2, version=9000, size=6000,
                     deps=((F.SYSTEM_PART, 1, 9100),), seed=42))
    line = refused(d, run, "--target", "9.0.0", "--from", folder, "--no-download")
    assert line == ("Device OS 9.0.0 for Photon would not start from these files: photon-system-part2@9.0.0.bin "
                    "(system part 2 version 9000) needs system part 1 version 9100 or newer; "
                    "photon-system-part1@9.0.0.bin is version 9000"), line
