"""login / logout / whoami / device add / keys send against the simulated cloud."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

from particle_py.keys import formats

DEVICE = "e00fce681234567890abcdef"


def config(home, profile="particle"):
    path = home / ".particle" / f"{profile}.config.json"
    return json.loads(path.read_text()), os.stat(path).st_mode & 0o777


def test_login_with_password_writes_the_token_0600_and_never_prints_it(cloud, home, particle):
    code, out, err = particle("login", "-u", "alice@example.com", "-p", "correct horse")
    assert (code, out, err) == (0, "> Successfully completed login!\n", "")
    values, mode = config(home)
    assert mode == 0o600
    assert values["apiUrl"] == cloud.url and values["username"] == "alice@example.com"
    assert cloud.db.user_for_token(values["access_token"])[0] == "alice@example.com"
    assert values["access_token"] not in out + err
    wire = cloud.db.requests()[-1]
    assert wire["path"] == "/oauth/token" and "password" not in wire["form"]


def test_login_with_mfa_asks_for_the_login_code(cloud, home, particle, monkeypatch):
    cloud.db.add_user("bob@example.com", "pw", otp="123456")
    monkeypatch.setattr(sys, "stdin", io.StringIO("bob@example.com\npw\n123456\n"))
    code, out, err = particle("login")
    assert code == 0, err
    assert "Use your authenticator app on your mobile device to get a login code." in out
    assert out.endswith("> Successfully completed login!\n")
    assert config(home)[0]["username"] == "bob@example.com"


def test_login_with_a_wrong_login_code_fails_and_stores_nothing(cloud, home, particle):
    cloud.db.add_user("bob@example.com", "pw", otp="123456")
    code, out, err = particle("login", "-u", "bob@example.com", "-p", "pw", "--otp", "000000")
    assert code == 1
    assert err.startswith("Invalid or expired login code\n")
    assert "access_token" not in config(home)[0]


def test_wrong_password(cloud, home, particle):
    code, out, err = particle("login", "-u", "alice@example.com", "-p", "nope")
    assert code == 1
    assert err == ("User credentials are invalid\nCheck your username and password (and the login code), "
                   "then try `particle login` again.\n")


def test_login_with_token_checks_it_first(cloud, home, particle):
    token = cloud.db.issue_token("alice@example.com")
    assert particle("login", "--token", "0" * 40)[0:3:2] == (1, "Your access token is invalid or has expired.\n"
                                                                  "Run particle login to log in again.\n")
    assert particle("login", "--token", token)[:2] == (0, "> Successfully completed login!\n")
    assert config(home)[0]["access_token"] == token


def test_whoami_and_logout(logged_in, cloud, home, particle):
    assert particle("whoami") == (0, "alice@example.com\n", "")
    assert particle("logout") == (0, "You have been logged out from alice@example.com.\n", "")
    assert cloud.db.user_for_token(logged_in) is None          # revoked on the cloud too
    values, mode = config(home)
    assert "access_token" not in values and values["apiUrl"] == cloud.url and mode == 0o600
    assert particle("whoami") == (1, "", "You're not logged in. Run `particle login` to authenticate.\n")
    assert particle("logout") == (0, "You were already logged out.\n", "")


def test_particle_cli_profiles_are_honoured(cloud, home, particle):
    token = cloud.db.issue_token("alice@example.com")
    (home / ".particle" / "profile.json").write_text(json.dumps({"name": "local"}))
    (home / ".particle" / "local.config.json").write_text(json.dumps({"apiUrl": cloud.url + "/",
                                                                      "access_token": token}))
    (home / ".particle" / "particle.config.json").write_text(json.dumps({"apiUrl": "http://127.0.0.1:9"}))
    assert particle("whoami")[:2] == (0, "alice@example.com\n")


def test_broken_config_file_is_reported(home, particle):
    (home / ".particle").mkdir()
    (home / ".particle" / "particle.config.json").write_text("{not json")
    code, out, err = particle("whoami")
    assert code == 1 and err.startswith(f"Error parsing file {home / '.particle' / 'particle.config.json'}: ")


def test_expired_token(logged_in, cloud, particle):
    cloud.db.expire_token(logged_in)
    assert particle("whoami") == (1, "", "Your access token is invalid or has expired.\n"
                                         "Run particle login to log in again.\n")


def test_device_add_outcomes(logged_in, cloud, particle):
    code, out, err = particle("device", "add", DEVICE.upper())
    assert (code, out) == (1, f"Claiming device {DEVICE}\n")
    assert err == "Failed to claim device: device not found\nCheck the device ID (`particle identify` shows it).\n"

    key = formats.generate("ec")
    cloud.db.add_device(DEVICE, public_key=formats.public_pem(key))
    assert cloud.db.handshake(DEVICE, formats.public_der(formats.generate("ec"))) == "key_rejected"
    code, out, err = particle("device", "add", DEVICE)
    assert code == 1
    assert err.startswith("Failed to claim device: device is not connected to the cloud\n"
                          "The cloud can only claim a device that is connected")

    assert cloud.db.handshake(DEVICE, formats.public_der(key)) == "ok"
    assert particle("device", "add", DEVICE) == (0, f"Claiming device {DEVICE}\nSuccessfully claimed device "
                                                    f"{DEVICE}\n", "")
    assert cloud.db.device(DEVICE)["owner"] == "alice@example.com"

    cloud.db.add_device("0123456789abcdef01234567", owner="mallory", connected=True)
    code, out, err = particle("device", "add", "0123456789abcdef01234567")
    assert err == ("Failed to claim device: That belongs to someone else.\n"
                   "Ask its owner to release it (unclaim it) first.\n")


def _key_file(tmp_path, alg="ec"):
    key = formats.generate(alg)
    path = tmp_path / "work" / f"{DEVICE}.pub.pem"
    path.write_bytes(formats.public_pem(key))
    return key, path


def test_keys_send_puts_particle_cli_fields_on_the_wire(logged_in, cloud, particle, tmp_path):
    key, path = _key_file(tmp_path)
    code, out, err = particle("keys", "send", DEVICE.upper(), str(path), "--product_id", "1234")
    assert (code, err) == (0, "")
    assert out == (f"attempting to add a new public key for device {DEVICE}\n"
                   "submitting public key succeeded!\n")
    wire = [r for r in cloud.db.requests() if r["path"].startswith("/v1/provisioning/")]
    assert len(wire) == 1 and wire[0]["auth"] == "bearer" and wire[0]["path"] == f"/v1/provisioning/{DEVICE}"
    form = wire[0]["form"]
    assert re.fullmatch(r"manual_\d{13}", form.pop("order"))
    assert form == {"deviceID": DEVICE, "publicKey": formats.public_pem(key).decode(), "filename": "cli",
                    "algorithm": "ecc", "product_id": "1234"}
    # the cloud now holds the key: a device presenting it connects
    assert cloud.db.handshake(DEVICE, formats.public_der(key)) == "ok"


def test_keys_send_finds_the_pub_pem_from_the_device_id_and_accepts_private_der(logged_in, cloud, particle,
                                                                                 tmp_path):
    key, path = _key_file(tmp_path, "rsa")
    assert particle("keys", "send", DEVICE)[0] == 0                  # <id>.pub.pem found by name
    der = tmp_path / "work" / "k.der"
    der.write_bytes(formats.device_der(key))
    assert particle("keys", "send", DEVICE, str(der))[0] == 0
    forms = [r["form"] for r in cloud.db.requests() if r["path"].startswith("/v1/provisioning/")]
    assert [f["algorithm"] for f in forms] == ["rsa", "rsa"]
    assert forms[0]["publicKey"] == forms[1]["publicKey"] == formats.public_pem(key).decode()


def test_keys_send_errors(logged_in, cloud, home, particle, tmp_path):
    key, path = _key_file(tmp_path)
    assert particle("keys", "send", DEVICE, "missing.pem") == (
        1, "", "Error sending public key to server: Couldn't find missing.pem\n"
               "Give the key file: particle keys send <deviceID> <file.pub.pem or .der>\n")

    cloud.db.add_device(DEVICE, owner="mallory")
    code, out, err = particle("keys", "send", DEVICE, str(path))
    assert code == 1 and out == f"attempting to add a new public key for device {DEVICE}\n"
    assert err.startswith("Error sending public key to server: Permission Denied\n")

    cloud.db.expire_token(logged_in)
    assert particle("keys", "send", DEVICE, str(path)) == (
        1, "", "Error sending public key to server: Your access token is invalid or has expired.\n"
               "Run particle login to log in again.\n")

    (home / ".particle" / "particle.config.json").write_text(json.dumps({"apiUrl": cloud.url}))
    assert particle("keys", "send", DEVICE, str(path)) == (
        1, "", "Error sending public key to server: You're not logged in. Run `particle login` to "
               "authenticate.\n")


def test_keys_send_when_the_cloud_is_down(logged_in, cloud, particle, tmp_path):
    key, path = _key_file(tmp_path)
    cloud.db.set_knob("fail", "503")
    code, out, err = particle("keys", "send", DEVICE, str(path))
    assert code == 1 and err.startswith("Error sending public key to server: Simulated cloud failure\n")
    cloud.stop()
    code, out, err = particle("keys", "send", DEVICE, str(path))
    assert code == 1
    assert err.startswith(f"Error sending public key to server: Could not reach the Particle cloud at {cloud.url}")
    assert "Check that your computer is online" in err
    cloud.stop = lambda: None       # already stopped


def test_key_lock_model(cloud):
    first, second = formats.generate("rsa"), formats.generate("rsa")
    db = cloud.db
    assert db.handshake(DEVICE, formats.public_der(first)) == "ok"          # first key seen locks
    assert db.handshake(DEVICE, formats.public_pem(first)) == "ok"          # same key, other encoding
    assert db.handshake(DEVICE, formats.public_der(second)) == "key_rejected"
    assert db.device(DEVICE)["connected"] == 0
    servers = db.ensure_server_keys()
    assert db.handshake(DEVICE, formats.public_der(first), servers["rsa"].read_bytes()) == "ok"
    assert db.handshake(DEVICE, formats.public_der(first),
                        formats.public_der(formats.generate("ec"))) == "server_key_mismatch"


def test_particle_sim_cloud_serves_until_stopped(tmp_path):
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "particle_py.sim.cloud", "--state", str(tmp_path / "c"),
                             "--user", "u@example.com:pw"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        url = re.fullmatch(r"Simulated Particle cloud listening on (http://127\.0\.0\.1:\d+)\n", first).group(1)
        from particle_py.cloud.api import ApiClient
        api = ApiClient(url)
        api.token = api.login("u@example.com", "pw")["access_token"]
        assert api.whoami() == {"username": "u@example.com"}
        assert (tmp_path / "c" / "server_rsa.pub.der").exists()
        assert os.stat(tmp_path / "c" / "server_ec.pem").st_mode & 0o777 == 0o600
    finally:
        proc.terminate()
        proc.wait()
