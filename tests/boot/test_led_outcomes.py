"""Every LED outcome of the boot model, reached the way users reach it: by running the
commands forum threads give (dfu-util, particle keys, particle flash) on a simulated
Photon and cloud, then letting the device boot. Only the starting device is set up
directly (a healthy Photon, as bought)."""
import io
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from particle_py.cli.dfu_util.main import main as dfu_util
from particle_py.cli.particle.main import main as particle
from particle_py.cli.sim import main as particle_sim
from particle_py.sim import cloud as sim_cloud
from particle_py.sim import contents
from particle_py.platforms import by_name

ID = "3a0029000c47343432313031"
OWNER = "owner@example.com"


@pytest.fixture
def world(tmp_path, monkeypatch, capsys):
    """A healthy Photon in normal mode, its owner logged in to a running simulated cloud."""
    state, home, work = tmp_path / "sim", tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("PARTICLE_PY_SIM", str(state))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(work)
    assert particle_sim(["create", "photon", "--id", ID, "--owner", OWNER]) == 0
    cloud = sim_cloud.start(state / "cloud" / "cloud.sqlite")
    token = cloud.db.issue_token(OWNER)
    (home / ".particle").mkdir()
    (home / ".particle" / "particle.config.json").write_text(
        json.dumps({"apiUrl": cloud.url, "access_token": token, "username": OWNER}))
    capsys.readouterr()
    yield work
    cloud.stop()


def led(capsys) -> str:
    capsys.readouterr()
    assert particle_sim(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    return lines[1].strip() + " | " + lines[2].strip()


def dfu(*args) -> int:
    out, err = io.StringIO(), io.StringIO()
    return dfu_util(["dfu-util", *args], stdout=out, stderr=err)


def enter_dfu(capsys):
    assert particle(["usb", "dfu"]) == 0


def test_healthy_photon_breathes_cyan(world, capsys):
    assert led(capsys).startswith("LED: breathing cyan (connected to the cloud)")


def test_corrupt_system_part_keeps_it_in_dfu_mode(world, capsys):
    photon = by_name("photon")
    good = dict(contents.device_os(photon, "1.5.2"))[0x08020000]
    (world / "system-part1.bin").write_bytes(good[:-3000])            # a download cut short
    enter_dfu(capsys)
    # today's Photon bootloader answers the leave with dfuDNLOAD-IDLE, so dfu-util ends well (exit 0)
    assert dfu("-d", "2b04:d006", "-a", "0", "-s", "0x8020000:leave", "-D", "system-part1.bin") == 0
    shown = led(capsys)
    assert shown.startswith("LED: blinking yellow (DFU mode)")


def test_app_for_a_newer_device_os_runs_in_safe_mode(world, capsys):
    app = contents.user_app(by_name("photon"), "4.1.0")
    (world / "app.bin").write_bytes(app)
    enter_dfu(capsys)
    dfu("-d", "2b04:d006", "-a", "0", "-s", "0x080A0000:leave", "-D", "app.bin")
    shown = led(capsys)
    assert shown.startswith("LED: breathing magenta (safe mode, connected to the cloud)")
    assert "the user application needs system part 2 version >= 4100" in shown


def test_openssl3_pkcs8_key_written_by_dfu_util_gives_the_red_burst_and_doctor_repairs_it(world, capsys):
    key = rsa.generate_private_key(65537, 1024)
    (world / "pkcs8.der").write_bytes(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    enter_dfu(capsys)
    dfu("-d", "2b04:d006", "-a", "1", "-s", "34:leave", "-D", "pkcs8.der")
    assert led(capsys).startswith("LED: blinking cyan with 1 red burst (handshake error")
    assert particle(["keys", "doctor", ID]) == 0
    assert led(capsys).startswith("LED: breathing cyan (connected to the cloud)")


def test_a_key_the_cloud_does_not_know_gives_the_decryption_burst_until_sent(world, capsys):
    assert particle(["keys", "new", "mykey", "--protocol", "tcp"]) == 0
    assert particle(["keys", "load", "mykey.der"]) == 0
    assert particle(["usb", "reset"]) == 0
    shown = led(capsys)
    assert shown.startswith("LED: blinking cyan with 1 orange burst (decryption error")
    assert particle(["keys", "send", ID, "mykey.pub.pem"]) == 0
    assert particle(["usb", "reset"]) == 0
    assert led(capsys).startswith("LED: breathing cyan")


def test_a_foreign_server_key_gives_three_bursts_until_keys_server_restores_the_clouds(world, capsys, tmp_path):
    other = rsa.generate_private_key(65537, 2048).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    (world / "other_server.der").write_bytes(other)
    assert particle(["keys", "server", "other_server.der"]) == 0
    assert particle(["usb", "reset"]) == 0
    assert led(capsys).startswith("LED: blinking cyan with 3 orange bursts")
    cloud_key = tmp_path / "sim" / "cloud" / "server_rsa.pub.der"
    assert particle(["keys", "server", str(cloud_key)]) == 0
    assert particle(["usb", "reset"]) == 0
    assert led(capsys).startswith("LED: breathing cyan")


def test_start_listening_blinks_blue(world, capsys):
    assert particle(["usb", "start-listening"]) == 0
    assert led(capsys).startswith("LED: blinking blue (listening mode)")
