"""`particle usb configure` and the per-system set-up texts: every system's branch runs here,
chosen by passing the platform name (sys.platform's spelling) in."""
from __future__ import annotations

import fnmatch
import os
import re
import stat
import sys

import pytest

from particle_py.events import LineReporter
from particle_py.ops import host_setup
from particle_py.platforms import PLATFORMS
from particle_py.usb import hints


def run(platform, rules_dir):
    lines = []
    outcome = host_setup.configure(platform, rules_dir=str(rules_dir), reporter=LineReporter(lines.append))
    return outcome, lines


def rules():
    """(vid glob, pid glob, the whole line) of every rule in the shipped file."""
    text = host_setup.rules_source().read_text()
    out = []
    for line in text.splitlines():
        if line.startswith("SUBSYSTEMS"):
            vid = re.search(r'ATTRS\{idVendor\}=="([^"]+)"', line).group(1)
            pid = re.search(r'ATTRS\{idProduct\}=="([^"]+)"', line).group(1)
            out.append((vid, pid, line))
    return out


def test_the_rules_cover_every_particle_device_in_both_modes_and_grant_uaccess_not_0666():
    found = rules()
    assert found
    for vid, pid, line in found:
        assert 'TAG+="uaccess"' in line and 'MODE="0660"' in line and "0666" not in line
        assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in line
    for platform in PLATFORMS:
        for ids in (platform.usb_ids, platform.dfu_ids):
            wanted = ("%04x" % ids[0], "%04x" % ids[1])
            assert any(fnmatch.fnmatchcase(wanted[0], v) and fnmatch.fnmatchcase(wanted[1], p)
                       for v, p, _ in found), (platform.name, wanted)
    assert "0666" not in host_setup.rules_source().read_text().replace('no MODE="0666"', "")


def test_linux_installs_the_rules_world_readable_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        outcome, lines = run("linux", tmp_path)
    finally:
        os.umask(old)
    target = tmp_path / "50-particle.rules"
    assert outcome == "installed"
    assert target.read_bytes() == host_setup.rules_source().read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert lines == [
        f"Writing {target}",
        "udev rules installed. Make udev read them now with:",
        "  sudo udevadm control --reload-rules && sudo udevadm trigger",
        "Then unplug and reconnect your Particle devices.",
        "Access goes to the user logged in at this computer (uaccess); over ssh, add your user to",
        "the plugdev group instead: sudo usermod -aG plugdev $USER (then log in again).",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["50-particle.rules"]     # no temporary file left


def test_linux_second_run_says_already_configured_and_replaces_an_old_file(tmp_path):
    target = tmp_path / "50-particle.rules"
    target.write_text('SUBSYSTEMS=="usb", ATTRS{idVendor}=="2b04", MODE="0666"\n')      # particle-cli's kind
    assert run("linux", tmp_path)[0] == "installed"
    assert "0666" not in target.read_text().replace('no MODE="0666"', "")
    assert run("linux", tmp_path) == ("already", [f"The system is already configured: {target} is up to date."])


def test_linux_without_udev_installs_nothing(tmp_path):
    outcome, lines = run("linux", tmp_path / "absent")
    assert outcome == "nothing" and not (tmp_path / "absent").exists()
    assert lines[0] == f"This system has no {tmp_path / 'absent'} folder (no udev): there is nothing to install."


def test_a_non_root_user_is_asked_through_sudo_install_with_the_mode_set():
    src, dst = host_setup.rules_source(), host_setup.Path("/etc/udev/rules.d/50-particle.rules")
    assert host_setup.install_command(src, dst) == ["sudo", "install", "-m", "0644", str(src), str(dst)]


@pytest.mark.parametrize("platform", ["darwin"])
def test_macos_needs_nothing(tmp_path, platform):
    assert run(platform, tmp_path) == (
        "nothing", ["macOS needs no driver and no permission change for Particle devices: nothing to do."])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("platform", ["win32", "cygwin"])
def test_windows_explains_winusb_and_installs_nothing(tmp_path, platform):
    outcome, lines = run(platform, tmp_path)
    assert outcome == "nothing" and list(tmp_path.iterdir()) == []
    assert lines == list(host_setup.WINUSB_STEPS)
    text = "\n".join(lines)
    assert "WinUSB" in text and "Zadig (https://zadig.akeo.ie)" in text and "particle usb dfu" in text


def test_other_systems_get_a_plain_answer(tmp_path):
    outcome, lines = run("freebsd14", tmp_path)
    assert outcome == "nothing" and lines[0].startswith("particle-py knows no set-up step for this system")


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.path.exists(host_setup.UDEV_RULES_DIR),
                    reason="would change this computer's udev rules (the CI machine has no udev)")
def test_the_command_prints_the_systems_answer(particle, home):
    assert particle("usb", "configure") == (
        0, "This system has no /etc/udev/rules.d folder (no udev): there is nothing to install.\n"
           "If USB access fails, run the command as a user allowed to open USB devices.\n", "")


def test_linux_permission_hint_points_at_configure_and_never_at_0666():
    text = hints.hint_for_error(-3, 0x2B04, 0xD006, platform="linux")
    assert "Run `particle usb configure`" in text and 'TAG+="uaccess"' in text
    assert "0666" not in text
    assert "/etc/udev/rules.d/50-particle.rules" in text
    assert "sudo udevadm control --reload-rules" in text and "unplug and reconnect" in text
    assert hints.UDEV_RULE_EXAMPLE in host_setup.rules_source().read_text()


@pytest.mark.parametrize("platform, expected", [("darwin", "Another program may hold the device"),
                                                ("linux", "ModemManager")])
def test_busy_device_hint_per_system(platform, expected):
    assert expected in hints.hint_for_error(-6, platform=platform)
