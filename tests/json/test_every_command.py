"""`--json` and `--json-lines` on every `particle` command: the envelope (and each event line)
validates against the shipped schema, the exit status is the envelope's, errors are inside it,
and the JSON says what the text says (the same events)."""
from __future__ import annotations

import io
import json

import pytest
from schema_check import check

# particle-cli's own `usb env --json` keeps particle-cli's list (scripts written for it parse it)
OWN_JSON = {("usb", "env")}
LAST = {("logout",)}        # forgets the login the others use


def command_paths():
    import typer.main

    from particle_py.cli.particle.main import build_app

    def walk(command, path):
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, path + (name,))
        else:
            yield path
    paths = list(walk(typer.main.get_command(build_app()), ()))
    return [p for p in paths if p not in LAST] + [p for p in paths if p in LAST]


def test_the_walk_sees_every_group():
    words = {p[0] for p in command_paths()}
    assert {"keys", "usb", "flash", "update", "doctor", "serial", "login"} <= words
    assert len(command_paths()) >= 30


@pytest.mark.parametrize("flag", ["--json", "--json-lines"])
def test_every_command_prints_an_envelope_that_validates(world, particle, monkeypatch, flag):
    world.make("photon")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))      # a question finds no answer
    for path in command_paths():
        if path in OWN_JSON and flag == "--json":
            continue
        code, out, err = particle(*path, flag)
        where = f"particle {' '.join(path)} {flag}: {out[-400:]} {err[-400:]}"
        if flag == "--json":
            envelope = json.loads(out)
            lines = []
        else:
            lines = [json.loads(line) for line in out.splitlines()]
            envelope = lines[-1]
            assert envelope["event"] == "end", where
            assert all(e["event"] != "end" for e in lines[:-1]), where
        for line in lines:
            check(line)
        check(envelope)
        assert envelope["command"] == " ".join(path), where
        assert envelope["exit_code"] == code, where
        if envelope["error"] is not None:
            assert envelope["error"]["exit_code"] == code != 0, where
            assert envelope["error"]["message"] in err, where      # a person watching still reads it


def test_usb_env_keeps_particle_clis_own_json(world, particle):
    world.make("photon")
    code, out, _ = particle("usb", "env", "--json")
    assert isinstance(json.loads(out), list)
    # --json-lines is ours on every command, usb env too
    code, out, _ = particle("usb", "env", "--json-lines")
    check(json.loads(out.splitlines()[-1]))


def test_an_error_is_inside_the_json_with_its_exit_status(world, particle):
    world.make("photon")
    code, out, err = particle("keys", "doctor", "ffffffffffffffffffffffff", "--json")
    envelope = json.loads(out)
    check(envelope)
    assert code == envelope["exit_code"] == envelope["error"]["exit_code"] != 0
    assert envelope["error"]["message"].endswith("Device not found: ffffffffffffffffffffffff")
    assert envelope["error"]["hint"]


def test_a_usage_error_is_inside_the_json(particle):
    code, out, _ = particle("keys", "server", "--port", "notanumber", "--json")
    envelope = json.loads(out)
    check(envelope)
    assert code == 2 and envelope["error"]["exit_code"] == 2
    assert "notanumber" in envelope["error"]["message"]
    assert envelope["error"]["hint"] == "Run `particle keys server --help` to see the arguments it takes."


def test_the_json_lines_say_what_the_text_says(world, particle):
    first, = world.make("photon", key="corrupt", server_key="wrong")
    code, text, _ = particle("keys", "doctor", first)
    assert code == 0
    second, = world.make("photon", key="corrupt", server_key="wrong", id="3a0035000f47343432313031")
    code, out, _ = particle("keys", "doctor", second, "--json-lines")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    said = [e["text"] for e in lines if e["event"] in ("step", "output")]
    import re

    def same(lines):        # the key backup is named after the time it was made
        return [re.sub(r"\d{8}T\d{12}Z", "<time>", line) for line in lines]
    assert same(said) == same(text.replace(first, second).splitlines())
    assert lines[-1]["steps"] == [e["text"] for e in lines if e["event"] == "step"]
    assert lines[-1]["error"] is None


def _secrets_in(text: str, device_key_der: bytes) -> list[str]:
    import base64

    found = [word for word in ("PRIVATE KEY", "access_token") if word in text]
    body = base64.b64encode(device_key_der).decode()
    if device_key_der.hex() in text or body[64:128] in text:
        found.append("the device's private key")
    return found


def test_keys_doctor_json_holds_no_key_and_no_token(world, particle):
    ident, = world.make("photon", key="corrupt")
    code, out, err = particle("keys", "doctor", ident, "--json-lines", "-v")
    assert code == 0, err
    from particle_py.sim.bus import SimBus

    device = SimBus.load(world.state).devices()[0]
    key = device.memory(1).peek(34, 1216).rstrip(b"\xff")     # the Photon's device key in its DCT
    assert len(key) > 600
    assert _secrets_in(out, key) == []
    assert world.token not in out and world.token not in err


def test_login_json_holds_no_password_and_no_token(world, particle):
    world.make("photon")
    code, out, err = particle("login", "--token", world.token, "--json")
    assert code == 0, err
    envelope = json.loads(out)
    check(envelope)
    assert envelope["output"] == ["> Successfully completed login!"]
    assert world.token not in out + err
    code, out, err = particle("login", "-u", "owner@example.com", "-p", "hunter2-secret", "--json-lines")
    assert "hunter2-secret" not in out + err
    check(json.loads(out.splitlines()[-1]))


def test_wifi_add_json_holds_no_password(world, particle, tmp_path):
    world.make("argon", device_os="6.2.0")
    secret = "correct-horse-battery-9"
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"network": "particle-sim", "security": "WPA2_PSK", "password": secret}))
    code, out, err = particle("wifi", "add", "--file", creds, "--json-lines", "-v")
    assert code == 0, err
    envelope = json.loads(out.splitlines()[-1])
    check(envelope)
    assert "Wi-Fi network 'particle-sim' added successfully." in envelope["output"]
    assert secret not in out + err
    assert secret.encode().hex() not in out + err
