"""Secrets and safety, judged on everything a user could see or find afterwards.

A whole session (login, keys new/save/load/doctor/send, flash, whoami, logout) runs on a
simulated Argon and the simulated cloud; then every byte printed, every error message, every
file left in HOME, the data/cache folders, the working folder and the temp folder is searched
for the private keys and the access token. Key and config files must be 0600. TLS verification
must survive every switch people use to turn it off elsewhere. Nothing writes outside the
platform's writable segments, or to a bootloader, without an explicit flag.
"""
from __future__ import annotations

import base64
import json
import os
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

import matrix  # noqa: E402  (the fault matrix's in-process runner)

ROOT = Path(__file__).resolve().parents[2]
ARGON = matrix.ARGON_ID
POSIX = os.name == "posix"


@pytest.fixture
def session(tmp_path, monkeypatch):
    """A context (sim Argon in DFU mode, cloud with a user, isolated HOME) and a private temp dir."""
    from particle_py.sim.state import create_state

    ctx = matrix.new_context(tmp_path)
    create_state(ctx.sim, [matrix.ARGON_DFU], {})
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    cloud = matrix._start_cloud(ctx)
    config = ctx.home / ".particle" / "particle.config.json"
    settings = json.loads(config.read_text())
    settings.pop("access_token")                  # the session logs in itself
    config.write_text(json.dumps(settings))
    ctx.data["tmp"] = private_tmp
    yield ctx
    cloud.stop()


def _secret_forms(blob: bytes) -> list[bytes]:
    """Ways a secret could leak: raw, hex, base64 (24-char windows)."""
    b64 = base64.b64encode(blob)
    forms = [blob, blob.hex().encode(), blob.hex().upper().encode()]
    forms += [b64[i:i + 24] for i in range(0, max(1, len(b64) - 24), 12)]
    return [f for f in forms if len(f) >= 16]


def _inside(der: bytes, scalar: bytes) -> list[bytes]:
    """Base64 windows of ``der`` that encode private bytes only (as a PEM of it would show them;
    the rest of a private key's DER is its public key, which is no secret)."""
    at = der.find(scalar)
    if at < 0:
        return []
    b64 = base64.b64encode(der)
    lo, hi = -(-at // 3) * 4, (at + len(scalar)) // 3 * 4
    part = b64[lo:hi]
    return [part[i:i + 20] for i in range(0, max(1, len(part) - 20), 8)]


def _private_values(key_files) -> list[bytes]:
    from cryptography.hazmat.primitives import serialization as s

    from particle_py.keys import formats
    secrets = []
    for path in key_files:
        key = formats.parse_key(Path(path).read_bytes()).key
        numbers = key.private_numbers()
        value = getattr(numbers, "private_value", None) or getattr(numbers, "d")
        scalar = value.to_bytes((value.bit_length() + 7) // 8, "big")
        secrets += _secret_forms(scalar)
        for fmt in (s.PrivateFormat.TraditionalOpenSSL, s.PrivateFormat.PKCS8):
            secrets += _inside(key.private_bytes(s.Encoding.DER, fmt, s.NoEncryption()), scalar)
    return secrets


def _every_file(ctx) -> dict:
    found = {}
    for top in (ctx.home, ctx.root / "data", ctx.root / "cache", ctx.work, ctx.data["tmp"]):
        for path in Path(top).rglob("*"):
            if path.is_file():
                found[path] = path.read_bytes()
    return found


def test_a_whole_session_leaks_no_private_key_and_no_token(session):
    ctx = session
    printed = []

    def run(*argv, ok=True):
        code, out, err = matrix.run_command(ctx, list(argv))
        printed.append((argv, out + err))
        if ok:
            assert code == 0, (argv, err)
        return code, out, err

    run("particle", "login", "--username", "alice@example.com", "--password", "pw")
    run("particle", "whoami")
    run("particle", "keys", "new", "mine")
    run("particle", "keys", "load", "mine.der")
    run("particle", "keys", "save", "saved.der")
    run("particle", "keys", "doctor", ARGON)
    run("particle", "keys", "send", ARGON, "mine.pub.pem")
    # failures print messages too: a corrupt key file, a wrong password
    good = (ctx.work / "mine.pem").read_bytes()
    (ctx.work / "broken.pem").write_bytes(good[:60] + b"!" + good[61:])
    assert run("particle", "keys", "load", "broken.pem", ok=False)[0] != 0
    assert run("particle", "login", "--username", "alice@example.com", "--password", "wrong", ok=False)[0] != 0
    token = json.loads((ctx.home / ".particle" / "particle.config.json").read_text())["access_token"]
    run("particle", "logout")

    key_files = ["mine.pem", f"{ARGON}_ec_new.pem"]
    secrets = _private_values([ctx.work / f for f in key_files]) + [token.encode()]
    body = good.split(b"\n", 1)[1]
    secrets += [body[i:i + 20] for i in range(0, 40, 4)]               # the broken file's own text
    for argv, text in printed:
        for secret in secrets:
            assert secret.decode("latin-1") not in text, f"{' '.join(argv)} printed a secret"
    # files that may hold a private key: the key files themselves and their backups, all 0600
    for path, data in _every_file(ctx).items():
        if path.name == "broken.pem":
            continue                      # the test's own file
        holds = any(secret in data for secret in secrets)
        if holds and POSIX:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} holds a secret and is not 0600"
        if path.is_relative_to(ctx.data["tmp"]):
            raise AssertionError(f"left behind in the temp folder: {path}")
        if holds:
            assert path.suffix in (".pem", ".der", ".json", ".zip") or "backup" in path.name, \
                f"a secret in an unexpected file: {path}"


@pytest.mark.skipif(not POSIX, reason="POSIX modes; on Windows the files inherit the user's profile ACL")
def test_key_and_config_files_are_0600_even_with_a_permissive_umask(session):
    ctx = session
    old = os.umask(0)
    try:
        assert matrix.run_command(ctx, ["particle", "login", "--username", "alice@example.com",
                                        "--password", "pw"])[0] == 0
        assert matrix.run_command(ctx, ["particle", "keys", "new", "k"])[0] == 0
        assert matrix.run_command(ctx, ["particle", "keys", "load", "k.der"])[0] == 0
        assert matrix.run_command(ctx, ["particle", "keys", "save", "s.der"])[0] == 0
        assert matrix.run_command(ctx, ["particle", "keys", "doctor", ARGON])[0] == 0
    finally:
        os.umask(old)
    private = [p for p in _every_file(ctx) if p.suffix in (".pem", ".der", ".json") and ".pub." not in p.name
               and p.name != "cloud.sqlite"]
    assert any(p.name == "particle.config.json" for p in private)
    assert {"k.pem", "k.der", "s.der", f"{ARGON}_ec_new.der"} <= {p.name for p in private}
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# --- TLS -----------------------------------------------------------------------------------------

def _self_signed(folder: Path) -> tuple[Path, Path]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(s.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
    return cert_path, key_path


class _Whoami(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b'{"username": "mallory@example.com"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_tls_verification_survives_every_off_switch(tmp_path):
    cert, key = _self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Whoami)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        home = tmp_path / "home"
        (home / ".particle").mkdir(parents=True)
        # every "insecure" setting people copy from forum posts for node/curl/requests/python
        (home / ".particle" / "particle.config.json").write_text(json.dumps({
            "apiUrl": f"https://127.0.0.1:{server.server_address[1]}", "access_token": "a" * 40,
            "rejectUnauthorized": False, "strictSSL": False, "insecure": True, "verify": False}))
        env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
        env.update(HOME=str(home), PYTHONHTTPSVERIFY="0", NODE_TLS_REJECT_UNAUTHORIZED="0", CURL_CA_BUNDLE="",
                   REQUESTS_CA_BUNDLE="", PYTHONPATH=str(ROOT), NODE_EXTRA_CA_CERTS="")
        proc = subprocess.run([sys.executable, "-m", "particle_py", "whoami"], env=env, capture_output=True,
                              text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode != 0
    assert "mallory" not in proc.stdout
    assert "CERTIFICATE_VERIFY_FAILED" in proc.stderr or "certificate verify failed" in proc.stderr


def test_no_code_path_can_turn_tls_verification_off():
    banned = ("_create_unverified_context", "CERT_NONE", "check_hostname = False", "check_hostname=False",
              "verify=False", "PYTHONHTTPSVERIFY")
    for path in (ROOT / "particle_py").rglob("*.py"):
        if "sim" in path.relative_to(ROOT / "particle_py").parts:
            continue                     # the simulator serves plain HTTP and is never a client
        text = path.read_text(encoding="utf-8")
        for word in banned:
            assert word not in text, f"{path.relative_to(ROOT)} mentions {word}"


# --- what may be written where ---------------------------------------------------------------------

@pytest.fixture
def photon(tmp_path):
    from particle_py.sim.state import create_state

    ctx = matrix.new_context(tmp_path)
    create_state(ctx.sim, [matrix.PHOTON_DFU], {})
    return ctx


def _writes(ctx):
    """(address, length) of every DfuSe SET_ADDRESS/ERASE and data DNLOAD in the simulator log."""
    from particle_py.sim.bus import read_log
    return [e for e in read_log(ctx.sim) if e.get("event") == "control" and e["bmRequestType"] == 0x21
            and e["bRequest"] == 1 and e["data"]]


def _erases(ctx) -> list[int]:
    import struct
    return [struct.unpack("<I", bytes.fromhex(e["data"])[1:5])[0] for e in _writes(ctx)
            if e["wValue"] == 0 and e["data"].startswith("41") and len(e["data"]) == 10]


@pytest.mark.parametrize("address", ["0x08000000", "0x08004000", "0x09000000", "0x00000000"])
def test_dfu_util_refuses_writes_outside_writable_segments_without_force(photon, address):
    (photon.work / "x.bin").write_bytes(b"\x00" * 1024)
    code, out, err = matrix.run_command(photon, ["dfu-util", "-a", "0", "-s", address, "-D", "x.bin"])
    assert code == 64 and "is not writeable" in err
    assert _writes(photon) == []


def test_dfu_util_with_force_still_cannot_change_the_bootloader(photon):
    before = matrix.read_regions(photon, {"bl": (0, 0, 0x08000000, 0x4000)})
    (photon.work / "x.bin").write_bytes(b"\x00" * 1024)
    code, out, err = matrix.run_command(photon, ["dfu-util", "-a", "0", "-s", "0x08000000:force", "-D", "x.bin"])
    assert code != 0
    assert matrix.read_regions(photon, {"bl": (0, 0, 0x08000000, 0x4000)}) == before


TRANSFER_SIZE = 4096


def _dfuse_targets(ctx) -> list[tuple[int, int, int]]:
    """(alt, first, end) of every DfuSe erase and data block the simulator received, with the
    address each data block lands at (DfuSe: the last SET_ADDRESS + (block - 2) * wTransferSize)."""
    import struct
    from particle_py.sim.bus import read_log

    alt, pointer, targets = 0, 0, []
    for e in read_log(ctx.sim):
        if e.get("event") == "set_interface":
            alt = e["alt"]
        if e.get("event") != "control" or e["bmRequestType"] != 0x21 or e["bRequest"] != 1 or not e["data"]:
            continue
        data = bytes.fromhex(e["data"])
        if e["wValue"] == 0 and len(data) == 5 and data[0] in (0x21, 0x41):
            address = struct.unpack("<I", data[1:5])[0]
            if data[0] == 0x21:
                pointer = address
            targets.append((alt, address, address + 1))
        elif e["wValue"] >= 2:
            # the simulated Particle bootloaders' wTransferSize (a short last block keeps the stride)
            first = pointer + (e["wValue"] - 2) * TRANSFER_SIZE
            targets.append((alt, first, first + len(data)))
    return targets


@pytest.mark.parametrize("platform", ["photon", "electron", "argon", "boron", "p2"])
def test_particle_flash_never_writes_a_bootloader(tmp_path, platform):
    """A bootloader is never written over DFU into the bootloader's own flash. `flash --usb` of
    a bootloader (issue 16) stages it: the file in the OTA region and 0xA5 in the DCT flag byte,
    for Device OS to check and apply at its next boot; and only a bootloader that is intact and
    for this platform is staged. A platform without an OTA region refuses it."""
    from helpers.modules import build_module
    from particle_py.firmware.module import ModuleFunction as F
    from particle_py.platforms import OTA_FLAG_APPLY, OTA_FLAG_SLOT, by_name
    from particle_py.sim.state import create_state

    plat = by_name(platform)
    other = "boron" if platform != "boron" else "argon"
    bootloader = build_module(platform, function=F.BOOTLOADER, size=4096, deps=())
    corrupt = bytearray(bootloader)
    corrupt[100] ^= 0xFF
    refused = {"corrupt-bl.bin": bytes(corrupt),
               "other-bl.bin": build_module(other, function=F.BOOTLOADER, size=4096, deps=()),
               # a user app built to start where the bootloader lives
               "app.bin": build_module(platform, size=4096, start=plat.bootloader or 0)}
    if plat.ota_region is None:
        refused["bl.bin"] = bootloader
    bl_range = (plat.bootloader or 0, (plat.bootloader or 0) + 0x4000)
    bl_region = {"bl": (0, 0, plat.bootloader, 0x4000)} if plat.bootloader is not None else {}

    # --force does not stage a damaged or foreign bootloader either (Device OS would drop it)
    cases = [(name, data, []) for name, data in refused.items()]
    cases += [(name, refused[name], ["--force"]) for name in ("corrupt-bl.bin", "other-bl.bin")
              if plat.ota_region is not None]
    for name, data, flags in cases:
        ctx = matrix.new_context(tmp_path)
        create_state(ctx.sim, [f"{platform}:real=1"], {})
        before = matrix.read_regions(ctx, bl_region)
        (ctx.work / name).write_bytes(data)
        code, out, err = matrix.run_command(ctx, ["particle", "flash", "--usb", *flags, name])
        assert code != 0 and err.strip(), (name, flags, out)
        assert "nothing was written" in err.lower(), (name, err)
        assert _writes(ctx) == [], name
        assert matrix.read_regions(ctx, bl_region) == before

    if plat.ota_region is None:
        return
    ctx = matrix.new_context(tmp_path)
    create_state(ctx.sim, [f"{platform}:real=1"], {})
    before = matrix.read_regions(ctx, bl_region)
    (ctx.work / "bl.bin").write_bytes(bootloader)
    code, out, err = matrix.run_command(ctx, ["particle", "flash", "--usb", "bl.bin"])
    assert code == 0, err
    assert "Flash success!" in out.splitlines()
    ota = plat.ota_region
    staged = matrix.read_regions(ctx, {"ota": (0, ota.alt, ota.address, len(bootloader)),
                                       "flag": (0, OTA_FLAG_SLOT.alt, OTA_FLAG_SLOT.address, 1)})
    assert staged == {"ota": bootloader, "flag": bytes([OTA_FLAG_APPLY])}
    # no Device OS on this board, so nothing applied it: the bootloader's flash is as it was
    assert matrix.read_regions(ctx, bl_region) == before
    targets = _dfuse_targets(ctx)
    assert targets and not [t for t in targets if t[0] == 0 and t[1] < bl_range[1] and bl_range[0] < t[2]]


def test_dfu_util_says_what_it_writes_where(photon):
    """-v: the element's address and size, then each chunk's memory range (dfu-util's own lines)."""
    (photon.work / "app.bin").write_bytes(b"\x01" * 6000)
    code, out, err = matrix.run_command(photon, ["dfu-util", "-v", "-a", "0", "-s", "0x080A0000", "-D", "app.bin"])
    assert code == 0, err
    assert "Downloading element to address = 0x080a0000, size = 6000" in out.splitlines()
    assert "Erasing page size 131072 at address 0x080a0000, page starting at 0x080a0000" in err.splitlines()
    chunks = [ln for ln in err.splitlines() if ln.startswith(" Download from image offset")]
    assert chunks == [" Download from image offset 00000000 to memory 080a0000-080a0fff, size 4096",
                      " Download from image offset 00001000 to memory 080a1000-080a176f, size 1904"]


@pytest.mark.parametrize("argv,setup,alt", [
    (["flash", "--usb", "app.bin"], matrix._setup_app, 0),
    (["keys", "load", "new.der"], matrix._setup_key, 1),
    (["keys", "server", "server.pub.pem", "--host", "192.168.1.10", "--port", "5683"], matrix._setup_server, 1),
])
def test_particle_v_says_what_it_writes_where_before_writing(photon, argv, setup, alt):
    import struct

    setup(photon)
    code, out, err = matrix.run_command(photon, ["particle", "-v", *argv])
    assert code == 0, err
    announced = [ln for ln in err.splitlines() if ln.startswith("Writing ")]
    assert announced, err
    ranges = []
    for line in announced:
        lo, hi = (int(x, 16) for x in line.rsplit(" at ", 1)[1].split("-"))
        assert f"(alt {alt})" in line
        ranges.append((lo, hi))
    # every address the device was told to write at lies in an announced range (an address set
    # for a read, such as the system parts' prefixes read before a flash, is not a write)
    addresses, pointer = [], None
    for e in _writes(photon):
        if e["wValue"] == 0 and e["data"].startswith("21"):
            pointer = struct.unpack("<I", bytes.fromhex(e["data"])[1:5])[0]
        elif e["wValue"] >= 2 and pointer is not None:
            addresses.append(pointer)
    assert addresses and all(any(lo <= a <= hi for lo, hi in ranges) for a in addresses)
    # without -v the same command says nothing of the kind
    setup(photon)
    assert not [ln for ln in matrix.run_command(photon, ["particle", *argv])[2].splitlines()
                if ln.startswith("Writing ")]


def test_particle_v_announces_before_the_first_write_is_tried(tmp_path):
    from particle_py.sim.state import create_state

    ctx = matrix.new_context(tmp_path)
    create_state(ctx.sim, [matrix.PHOTON_DFU], {"DNLOAD_ERR": -9})     # every data block stalls
    matrix._setup_app(ctx)
    code, out, err = matrix.run_command(ctx, ["particle", "-v", "flash", "--usb", "app.bin"])
    assert code != 0
    assert err.splitlines()[0] == "Writing 6000 bytes to Internal Flash (alt 0) at 0x080a0000-0x080a176f"


def test_particle_v_after_the_command_works_as_forum_posts_type_it(tmp_path):
    """`particle flash --usb app.bin -v`: particle-cli takes global flags anywhere."""
    from particle_py.sim.state import create_state

    ctx = matrix.new_context(tmp_path)
    create_state(ctx.sim, [matrix.PHOTON_DFU], {})
    matrix._setup_app(ctx)
    code, out, err = matrix.run_command(ctx, ["particle", "flash", "--usb", "app.bin", "-v"])
    assert code == 0, err
    assert err.splitlines()[0] == "Writing 6000 bytes to Internal Flash (alt 0) at 0x080a0000-0x080a176f"
