"""usb.lean: the ctypes look that lets `dfu-util -l` skip pyusb when no DFU interface exists.
It must never hide a device dfu-util would list."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from particle_py.usb import lean

ROOT = Path(__file__).resolve().parents[2]
UMOCKDEV_RUN = ROOT / "scripts" / "umockdev-run"
ASK = "from particle_py.usb.lean import any_dfu_interface, bundled_libusb_path; print(any_dfu_interface(bundled_libusb_path()))"


def test_no_library_or_a_broken_one_means_do_not_know(tmp_path):
    assert lean.any_dfu_interface(None) is None
    (tmp_path / "libusb-1.0.so").write_bytes(b"not a library")
    assert lean.any_dfu_interface(str(tmp_path / "libusb-1.0.so")) is None


@pytest.mark.parametrize("var, value", [("PARTICLE_PY_SIM", "/some/state"), ("PARTICLE_PY_LIBUSB", "system")])
def test_never_answers_for_the_simulator_or_the_system_libusb(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    assert lean.no_dfu_device() is False


def test_the_bundled_library_is_libusb_package_s():
    import libusb_package

    path = lean.bundled_libusb_path()
    assert path is not None and Path(path).parent == Path(libusb_package.__file__).parent


def umockdev(*args, profile):
    if not shutil.which("umockdev-wrapper") or subprocess.run(
            ["/usr/bin/python3", "-c", "import gi; gi.require_version('UMockdev', '1.0')"],
            capture_output=True).returncode != 0:
        pytest.skip("umockdev not installed (scripts/install-peers --apt)")
    env = dict(os.environ)
    env.pop("PARTICLE_PY_SIM", None)
    env.pop("PARTICLE_PY_LIBUSB", None)
    return subprocess.run([str(UMOCKDEV_RUN), "--profile", profile, "--", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.umockdev
@pytest.mark.parametrize("profile, has_dfu", [("photon:real=1", True), ("runtime", True), ("dfu11", True),
                                              ("argon", True), ("photon-normal", False)])
def test_sees_dfu_interfaces_through_the_real_libusb(profile, has_dfu):
    proc = umockdev(sys.executable, "-c", ASK, profile=profile)
    assert proc.stdout.strip() == str(has_dfu), proc.stderr


@pytest.mark.umockdev
@pytest.mark.parametrize("profile", ["runtime", "photon-normal"])
def test_dfu_util_list_finds_what_the_real_one_finds(profile):
    real = shutil.which("dfu-util", path="/usr/bin")
    if not real:
        pytest.skip("real dfu-util not installed")
    ours = umockdev(str(Path(sys.executable).parent / "dfu-util"), "-l", profile=profile)
    theirs = umockdev(real, "-l", profile=profile)
    found = [[line for line in p.stdout.splitlines() if line.startswith("Found")] for p in (ours, theirs)]
    assert found[0] == found[1]
    assert bool(found[0]) == (profile == "runtime")


@pytest.mark.parametrize("platform, name", [("linux", "libusb-1.0.so"), ("darwin", "libusb-1.0.dylib"),
                                            ("win32", "libusb-1.0.dll"), ("cygwin", "libusb-1.0.dll"),
                                            ("freebsd14", "libusb-1.0.so")])
def test_the_library_file_name_per_system(platform, name):
    assert lean.library_name(platform) == name


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux wheel's library file")
def test_another_systems_library_is_not_there_so_pyusb_decides():
    # On Linux the wheel holds the .so: asking for the macOS or Windows file finds nothing,
    # which sends the caller down the full pyusb path rather than loading a wrong file.
    assert lean.bundled_libusb_path("darwin") is None and lean.bundled_libusb_path("win32") is None
    assert lean.bundled_libusb_path("linux") == lean.bundled_libusb_path()
