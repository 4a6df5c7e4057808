"""The doctor says only what it read: a cloud answer that is not a device record is no verdict,
what it cannot see is "unknown" (never "ok"), a DFU serial is not a device id, and a refused
claim is explained as `particle device add` explains it."""
from __future__ import annotations

import http.server
import json
import threading
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.doctor.conftest import IDS, OWNER

PHOTON = IDS["photon"]
OTHER = IDS["argon"]


@contextmanager
def answering(body: bytes):
    """A cloud that answers every request with HTTP 200 and ``body`` (a mutable one: ``box[0]``)."""
    box = [body]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = box[0]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", box
    finally:
        server.shutdown()
        server.server_close()


def _log_in_to(world, url: str) -> None:
    (world.home / ".particle").mkdir(exist_ok=True)
    (world.home / ".particle" / "particle.config.json").write_text(
        json.dumps({"apiUrl": url, "access_token": "x" * 40, "username": OWNER}))


@pytest.mark.parametrize("body", [
    {},                                                   # read as "claimed to your account"
    {"id": PHOTON, "connected": "false"},                 # read as "online"
    {"id": OTHER, "name": "other", "connected": True},    # another device's record
], ids=["empty object", "connected as text", "another id"])
def test_a_cloud_answer_that_is_not_this_devices_record_is_no_verdict(world, body):
    world.create("photon", login=False)
    raw = json.dumps(body).encode()
    with answering(raw) as (url, _box):
        _log_in_to(world, url)
        code, out, err = world.particle("doctor", "--dry-run")
    assert code == 0, err
    shown = raw.decode()
    assert (f'  ?    cloud: not checked (The Particle cloud at {url}/v1/devices/{PHOTON} answered HTTP 200 with '
            f'"{shown}", not the record of device {PHOTON} ({{"id": "{PHOTON}", "connected": true or false}}).)\n'
            in out), out
    assert "claimed to your account" not in out and "online" not in out
    assert "Repairs needed: none" in out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["id", "connected", "name", "ok"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                                 st.sampled_from([PHOTON, PHOTON.upper(), OTHER, "true", "false"]))))
def test_device_record_is_returned_only_when_it_names_the_device_and_says_connected(body):
    from particle_py.cloud.api import ApiClient
    from particle_py.errors import ParticlePyError

    with answering(json.dumps(body).encode()) as (url, _box):
        client = ApiClient(url, "x" * 40, timeout=5)
        try:
            record = client.device_record(PHOTON)
        except ParticlePyError as err:
            assert err.message.startswith(f"The Particle cloud at {url}/v1/devices/{PHOTON} answered HTTP 200 with ")
            assert not (isinstance(body.get("id"), str) and body["id"].lower() == PHOTON
                        and isinstance(body.get("connected"), bool))
        else:
            assert record["id"].lower() == PHOTON and record["connected"] in (True, False)


def test_an_unclaimed_device_whose_key_the_cloud_lacks_is_not_called_fine(world):
    # the seed's "could not claim device": nobody owns it and the cloud holds another key
    world.create("photon", "--cloud-key", "other", owner=False)
    code, out, err = world.particle("doctor", "--dry-run")
    assert code == 0, err
    assert (f"  FAIL the device is not claimed to your account ({OWNER}); the cloud answered: Permission Denied\n"
            "  ?    whether the cloud holds the device's public key: unknown (the cloud shows it to no one; it is "
            "known once the device connects: breathing cyan means yes, blinking cyan with 1 orange burst means no, "
            "and `particle keys doctor <id>` then sends a new key)\n"
            "LED now: breathing cyan if the cloud holds the device's public key, else blinking cyan with 1 orange "
            "burst\n") in out, out
    assert world.led().startswith("LED: blinking cyan with 1 orange burst")


def test_the_claim_step_explains_a_device_the_cloud_cannot_claim(world):
    world.create("photon", "--cloud-key", "other", owner=False)
    code, out, err = world.particle("doctor", "--yes")
    assert code == 1
    assert err == (
        "The doctor stopped at \"Claim the device\": device is not connected to the cloud\n"
        "The cloud can only claim a device that is connected (breathing cyan). If it blinks cyan with orange or red "
        f"bursts, its keys do not match the cloud: run `particle keys doctor {PHOTON}` (it makes a new key and sends "
        "it to the cloud), reset the device and run `particle doctor` again.\n"
        "Done before it: nothing\n"
        "The device is not repaired. Post the output of `particle doctor --dry-run --json` (it holds no keys or "
        "tokens) in a thread at https://community.particle.io/\n"), err
    assert "HTTP 400" not in err and "check the command's arguments" not in err


def test_a_2015_bootloader_serial_is_not_taken_for_the_device_id(world):
    """The 2015 Photon's bootloader shows 00000000010c in DFU mode: the doctor restarts it into its
    firmware to read the real id (issue 22), names that id, repairs, and the device ends breathing
    cyan; no backup or file is named after the bootloader's serial."""
    world.create("photon", "--bootloader", "2015", "--mode", "dfu", "--server-key", "wrong")
    code, out, err = world.particle("doctor", "--dry-run", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["diagnosis"]["device_id"] == PHOTON
    assert "Restarting the device to read its id (its DFU bootloader does not show it)\n" in err
    assert f"Device: Photon {PHOTON}, in DFU mode, protocol TCP\n" in err
    code, out, err = world.particle("doctor", "--yes")
    assert code == 0, err
    assert f"backup_server_rsa_{PHOTON}.der" in out
    assert not list(world.home.rglob("*00000000010c*")) and not list(world.work.rglob("*00000000010c*"))
    assert not list(world.tmp.rglob("key-backups/00000000010c*"))
    assert world.led().startswith("LED: breathing cyan"), world.led()


def test_whoami_on_a_404_points_at_the_api_url_not_at_device_ids(world, tmp_path):
    from helpers.loopback import serving

    empty = tmp_path / "empty"
    empty.mkdir()
    with serving(empty) as url:
        _log_in_to(world, url)
        code, out, err = world.particle("whoami")
    assert code == 1
    assert "device ID" not in err
    assert err.endswith(f"The cloud at {url} has no user endpoint: check the apiUrl in "
                        f"{world.home / '.particle' / 'particle.config.json'}, then run `particle login` again.\n"), err


def test_a_step_that_changed_nothing_does_not_say_the_device_is_unchanged_after_a_repair(world):
    # the server key is restored, then `keys doctor` stops before writing: the device did change
    world.create("photon", "--key", "corrupt", "--server-key", "wrong")
    world.cloud.db.set_knob("fail", "500")
    world.cloud.db.set_knob("fail_path", "/v1/access_tokens")
    code, out, err = world.particle("doctor", "--yes")
    assert code == 1
    assert err == (
        "The doctor stopped at \"Make a new device key\": Make sure your device is connected to your computer, and "
        "that your computer is online: Simulated cloud failure\n"
        "The cloud had a problem; try again in a minute.\n"
        "This step changed nothing on the device.\n"
        "Done before it: Restore the server key\n"
        "The device is not repaired. Post the output of `particle doctor --dry-run --json` (it holds no keys or "
        "tokens) in a thread at https://community.particle.io/\n"), err
    code, out, err = world.particle("doctor", "--dry-run")
    assert "  ok   server key: Particle's TCP server key, address tcp://device.spark.io:5683\n" in out, out


def test_the_simulated_clouds_own_server_key_is_right_for_that_cloud(world):
    # a cloud with its own key pair (not given Particle's): a device holding it connects there
    from particle_py.sim.cloud_db import CloudDb

    for alg in ("rsa", "ec"):
        (world.state / "cloud" / f"server_{alg}.pub.der").unlink()
    CloudDb(world.state / "cloud" / "cloud.sqlite").ensure_server_keys()
    world.create("photon")
    assert world.led().startswith("LED: breathing cyan")
    code, out, err = world.particle("doctor", "--dry-run")
    assert code == 0, err
    own = world.state / "cloud" / "server_rsa.pub.der"
    assert (f"  ok   server key: the simulated cloud's own TCP server key ({own}), address "
            f"tcp://device.spark.io:5683\n") in out, out
    assert "orange" not in out and "Repairs needed: none\n" in out


def test_another_clouds_server_key_is_unknown_not_wrong(world):
    # logged in to a cloud that is neither Particle's nor the simulated one (nothing listens there)
    world.create("photon", login=False)
    _log_in_to(world, "http://127.0.0.2:9")
    code, out, err = world.particle("doctor", "--dry-run")
    assert code == 0, err
    assert ("  ?    the server key in the DCT at 2082 is a valid RSA key, but it could not be compared with the server "
            "key of the cloud at http://127.0.0.2:9: particle-py knows only the keys of Particle's cloud and of the "
            "simulated one; give that cloud's key with `particle doctor --server-key <file>` (and --host, --port)\n"
            ) in out, out
    assert ("LED now: breathing cyan if its server key is that cloud's and the cloud holds the device's public key, "
            "else blinking cyan with 3 orange bursts or blinking cyan with 1 orange burst\n"
            "Repairs needed: none\n") in out, out


def test_offline_the_doctor_repairs_what_needs_no_download(world, monkeypatch):
    # no Device OS files at hand and no download: the server key is still restored
    from tests.doctor.test_causes import cut_short_system_part

    world.create("photon", "--server-key", "wrong")
    cut_short_system_part(world, "photon")
    monkeypatch.delenv("PARTICLE_PY_DEVICE_OS_FROM")
    code, out, err = world.particle("doctor", "--yes", "--no-download")
    assert code == 1, out + err
    assert ("Restore Device OS: not possible here. The files of Device OS 2.3.1 for the Photon could not be had: "
            "Device OS 2.3.1 for Photon is not available here (photon-bootloader@2.3.1+lto.bin, "
            "photon-system-part1@2.3.1.bin, photon-system-part2@2.3.1.bin): downloading is off\n"
            "Nothing was written. Give them with `particle doctor --from <folder or .zip>` (Particle's release "
            f"files), or run `particle update {world.device_id}` once online, then `particle doctor` again.\n"
            "Restore the server key: writes Particle's server key") in out, out
    assert "Okay!  New keys in place, your device will not restart.\n" in out, out
    assert out.endswith("The device will show: blinking yellow.\nPost the output of `particle doctor --dry-run "
                        "--json` (it holds no keys or tokens) in a thread at https://community.particle.io/\n")
    code, out, err = world.particle("doctor", "--dry-run")
    assert "  ok   server key: Particle's TCP server key, address tcp://device.spark.io:5683\n" in out, out


def test_the_doctor_takes_device_os_from_a_folder_given_with_from(world, monkeypatch):
    from tests.doctor.test_causes import STAND_IN_RELEASE, cut_short_system_part

    world.create("p2")
    cut_short_system_part(world, "p2")
    folder = world.stand_in_release("p2", STAND_IN_RELEASE["p2"])
    monkeypatch.delenv("PARTICLE_PY_DEVICE_OS_FROM")
    code, out, err = world.particle("doctor", "--yes", "--no-download", "--from", str(folder))
    assert code == 0, out + err
    assert f"The device should now show: breathing cyan." in out, out
    assert world.led().startswith("LED: breathing cyan")


def test_a_given_id_that_the_dfu_serial_cannot_confirm_is_refused_before_anything(world):
    """Given another device's id, the 2015 Photon in DFU mode (serial 00000000010c) is asked for its
    own id first: refused, nothing written or sent; given its own id, it is repaired."""
    world.create("photon", "--bootloader", "2015", "--mode", "dfu", "--server-key", "wrong")
    before = len(world.cloud.db._q("SELECT 1 FROM requests"))
    code, out, err = world.particle("doctor", "--yes", OTHER)
    assert code == 1
    assert err.splitlines()[0] == f"Device not found: {OTHER}", err
    assert f"The Photon attached is {PHOTON}." in err and "nothing was written to the device or sent to the cloud" in err
    assert len(world.cloud.db._q("SELECT 1 FROM requests")) == before      # nothing sent to the cloud
    assert not list(world.tmp.rglob("key-backups/*")) and not list(world.work.iterdir())
    code, out, err = world.particle("doctor", "--dry-run")
    assert "  FAIL blinking cyan with 3 orange bursts: the server key" in out      # still as it was
    code, out, err = world.particle("doctor", "--yes", PHOTON)
    assert code == 0, err
    assert world.led().startswith("LED: breathing cyan"), world.led()
