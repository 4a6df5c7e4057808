"""`particle keys` without a device: argument shapes of both particle-cli eras, offline
key generation, server-key files by device type, and no openssl anywhere."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from particle_py.keys import formats


def parse(*args):
    """Parse a command line with the real typer/click tree: (sub-command names, parameters);
    a line that does not parse raises click's UsageError."""
    import typer

    from particle_py.cli.particle.main import build_app
    command = typer.main.get_command(build_app())
    tokens, names = list(args), []
    ctx = command.make_context("particle", [], resilient_parsing=True)
    while hasattr(command, "get_command") and tokens:
        name = tokens.pop(0)
        command = command.get_command(ctx, name)
        assert command is not None, f"no command {name}"
        names.append(name)
        is_group = hasattr(command, "get_command")
        ctx = command.make_context(name, [] if is_group else tokens, parent=ctx, resilient_parsing=is_group)
    return names, ctx.params


@pytest.mark.parametrize("argv,params", [
    # particle-cli 2.x (dfu-util era)
    (["keys", "new", "device", "--protocol", "udp"], {"filename": "device", "protocol": "udp"}),
    (["keys", "load", "device.der"], {"filename": "device.der"}),
    (["keys", "load", "device.der", "--force"], {"filename": "device.der", "force": True}),      # forum 017
    (["keys", "save", "device.der", "--force"], {"filename": "device.der", "force": True}),
    (["keys", "send", "0123456789abcdef01234567", "photon.pub.pem", "--product_id", "42"],
     {"device_id": "0123456789abcdef01234567", "filename": "photon.pub.pem", "product_id": 42}),
    (["keys", "doctor", "2b04:d006", "--force"], {"device_ids": ("2b04:d006",)}),                     # forum 062
    (["keys", "doctor", "0123456789abcdef01234567", "--protocol", "tcp"], {"protocol": "tcp"}),
    (["keys", "server", "cloud_public.der", "--host", "192.168.1.10", "--port", "5683", "--protocol", "tcp"],
     {"filename": "cloud_public.der", "host": "192.168.1.10", "port": 5683}),
    (["keys", "server", "rsa.pub.der", "out.der", "--deviceType", "photon"],
     {"output": "out.der", "device_type": "photon"}),
    (["keys", "address", "--protocol", "udp"], {"protocol": "udp"}),
    (["keys", "protocol", "--protocol", "tcp"], {"protocol": "tcp"}),
    (["keys", "protocol", "tcp"], {"legacy": "tcp"}),
    # particle-cli 3.x
    (["keys", "new"], {"filename": None}),
    (["keys", "load"], {"filename": None}),
    (["keys", "save"], {"filename": None, "force": False}),
    (["keys", "send"], {"device_id": None, "filename": None}),
    (["keys", "doctor"], {"device_ids": ()}),
    (["keys", "server"], {"filename": None}),
    (["keys", "address"], {}),
    (["login", "-u", "a@b.c", "-p", "pw", "--otp", "123456"], {"username": "a@b.c", "otp": "123456"}),
    (["login", "--token", "abc"], {"token": "abc"}),
    (["logout"], {}),
    (["whoami"], {}),
    (["device", "add", "0123456789abcdef01234567"], {"device_id": "0123456789abcdef01234567"}),
])
def test_command_shapes_of_both_eras_parse(argv, params):
    names, parsed = parse(*argv)
    assert names == [a for a in argv if not a.startswith("-")][:len(names)]
    for key, value in params.items():
        assert parsed[key] == value


def test_keys_new_offline_writes_particle_cli_file_set(home, particle):
    code, out, err = particle("keys", "new", "photon", "--protocol", "tcp")
    assert (code, out, err) == (0, "New key photon.der created\n", "")
    der = Path("photon.der").read_bytes()
    assert 607 <= len(der) <= 611 and formats.parse_key(der).kind == formats.PKCS1_PRIVATE
    assert Path("photon.pem").read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert Path("photon.pub.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert stat.S_IMODE(os.stat("photon.der").st_mode) == 0o600
    assert stat.S_IMODE(os.stat("photon.pem").st_mode) == 0o600


def test_keys_new_offline_rejects_an_unknown_protocol(home, particle):
    assert particle("keys", "new", "--protocol", "ip") == (
        1, "", "Error creating keys: Unknown protocol ip.\nUse --protocol tcp or --protocol udp.\n")


def test_keys_server_device_type_for_photon_from_pem(home, particle):
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(65537, 2048)
    Path("server.pem").write_bytes(formats.public_pem(key))
    code, out, err = particle("keys", "server", "server.pem", "--deviceType", "photon")
    assert (code, err) == (0, "")
    assert out == ("Okay!  Formatted server key file generated for this type of device.\n"
                   "Written to server-padded.der\n")
    spki = formats.public_der(key)
    assert Path("server-padded.der").read_bytes() == spki + b"\xff" * (512 - len(spki))


def test_keys_server_refuses_a_key_of_the_wrong_type(home, particle):
    Path("ec.pem").write_bytes(formats.public_pem(formats.generate("ec")))
    code, out, err = particle("keys", "server", "ec.pem", "--deviceType", "p1")
    assert code == 1 and err.startswith("ec.pem is an EC key but this device's protocol needs an RSA server key.")
    assert not Path("ec-padded.der").exists()


def test_keys_server_missing_file(home, particle):
    assert particle("keys", "server", "nope.der", "--deviceType", "argon") == (
        1, "", "Please specify a server key in DER format.\nnope.der does not exist. Give the server's public key "
               "(DER or PEM).\n")


def test_no_openssl_is_ever_run(home, particle, tmp_path, monkeypatch):
    trap = tmp_path / "bin"
    trap.mkdir()
    marker = tmp_path / "openssl-was-run"
    script = trap / "openssl"
    script.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{trap}{os.pathsep}{os.environ.get('PATH', '')}")
    assert particle("keys", "new", "a", "--protocol", "tcp")[0] == 0
    assert particle("keys", "new", "b", "--protocol", "udp")[0] == 0
    Path("s.pem").write_bytes(formats.public_pem(formats.generate("ec")))
    assert particle("keys", "server", "s.pem", "--deviceType", "boron", "--host", "example.com")[0] == 0
    assert not marker.exists()
    source = Path(formats.__file__).parents[1]
    for path in list(source.glob("keys/*.py")) + list(source.glob("cloud/*.py")):
        text = path.read_text()
        assert "subprocess" not in text and "os.system" not in text, path


@pytest.mark.parametrize("argv", [["keys", "doctor", "x", "--bogus"], ["keys", "send", "a", "b", "c"],
                                  ["keys", "server", "a", "b", "c", "d"],
                                  ["keys", "server", "--port", "http"]])
def test_lines_that_no_particle_cli_accepted_do_not_parse(argv):
    # click's usage errors (whichever click typer brings: a dependency or its vendored copy,
    # reached through no private import) carry exit code 2
    with pytest.raises(Exception) as raised:
        parse(*argv)
    assert type(raised.value).__name__ in ("UsageError", "NoSuchOption", "BadParameter", "BadArgumentUsage")
    assert getattr(raised.value, "exit_code", None) == 2
