"""`particle keys` against simulated devices: the exact bytes in the DCT slots, the files
written, the exact output, and what happens when a step fails."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
from pathlib import Path

import pytest
from helpers.keys_doctor import unproven

from particle_py.events import LineReporter
from particle_py.keys import formats
from particle_py.ops import keys as key_ops
from particle_py.platforms import ELECTRON_TRANSPORT_SLOT, by_name


NO_START_HINT = ("Nothing was written. Give the device firmware it can start (`particle update`), then run "
                 "the command again.")
LEARN_ID = ["Restarting the device to read its id (its DFU bootloader does not show it)",
            "Switching device to DFU mode"]


def mode(path) -> int:
    return os.stat(path).st_mode & 0o777


class Sim:
    """A simulator state folder and what its devices hold."""

    def __init__(self, folder: Path):
        self.folder = folder

    def bus(self):
        from particle_py.sim.bus import SimBus
        return SimBus.load(self.folder)

    def device(self, index=0):
        return self.bus().devices()[index]

    @property
    def device_id(self) -> str:
        """The device's own id: a Core in DFU mode shows only a short serial, so the commands
        learn the id from its firmware (LEARN_ID lines) and never use the serial."""
        return self.device().profile.device_id

    def learn_id_lines(self) -> list:
        """What a command says while the device restarts to show its id (Core in DFU mode)."""
        dev = self.device()
        return [] if by_name(dev.profile.platform).dfu_serial_is_device_id else LEARN_ID

    @property
    def real_id(self) -> str:
        return self.device().profile.device_id

    def peek(self, slot, length=None, index=0) -> bytes:
        return self.device(index).memory(slot.alt).peek(slot.address, length or slot.size)

    def replug(self, spec: str, unit: int = 0) -> None:
        """Plug a board that was unplugged back in (it keeps its flash)."""
        bus = self.bus()
        if not any(dev.unit == unit for dev in bus.devices()):
            bus.attach(spec, unit=unit)
            bus.save()

    def poke(self, slot, data: bytes, index=0) -> None:
        bus = self.bus()
        bus.devices()[index].memory(slot.alt).poke(slot.address, data)
        bus.save()


@pytest.fixture
def sim(tmp_path, home, monkeypatch):
    def make(*profiles, knobs=None):
        from particle_py.sim.state import create_state
        folder = tmp_path / "sim"
        # "<platform>:real=1" is the platform as Particle ships it (bootloader reporting the device id)
        specs = [p if ":" in p or p.endswith("-normal") else p + ":real=1" for p in profiles]
        create_state(folder, specs, knobs or {})
        monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
        return Sim(folder)
    return make


def key_slot(platform, protocol=None):
    p = by_name(platform)
    return p.device_key[protocol or p.default_protocol]


def server_slot(platform, protocol=None):
    p = by_name(platform)
    return p.server_key[protocol or p.default_protocol]


def old_key(alg):
    return formats.device_der(formats.generate(alg))


# --- keys new -------------------------------------------------------------------------------

@pytest.mark.parametrize("platform,alg", [("photon", "rsa"), ("p1", "rsa"), ("electron", "ec"), ("core", "rsa"),
                                          ("argon", "ec"), ("boron", "ec")])
def test_keys_new_names_files_after_the_device(sim, particle, platform, alg):
    s = sim(platform)
    ident = s.device_id
    code, out, err = particle("keys", "new")
    assert (code, out, err) == (0, "".join(line + "\n" for line in s.learn_id_lines()) +
                                   f"New key {ident}.der created for device {ident}\n"
                                   "The same key is also in device.der, device.pem and device.pub.pem (the names "
                                   "particle-cli used before 3.16)\n", "")
    der = Path(f"{ident}.der").read_bytes()
    # the names of particle-cli 1.x-3.15 as well, so `dfu-util ... -D device.der` guides work (docs/eras.md)
    for ext in (".der", ".pem", ".pub.pem"):
        assert Path("device" + ext).read_bytes() == Path(ident + ext).read_bytes()
    assert mode("device.der") == 0o600
    info = formats.parse_key(der)
    assert info.alg == alg and info.kind == (formats.PKCS1_PRIVATE if alg == "rsa" else formats.SEC1_PRIVATE)
    assert len(der) in (range(607, 612) if alg == "rsa" else [121])
    assert formats.parse_key(Path(f"{ident}.pem").read_bytes()).der == der
    assert formats.parse_key(Path(f"{ident}.pub.pem").read_bytes()).kind == formats.SPKI_PUBLIC
    assert (mode(f"{ident}.der"), mode(f"{ident}.pem")) == (0o600, 0o600)


def test_keys_new_with_protocol_needs_no_device(sim, particle):
    sim()                                    # a bus with nothing attached
    assert particle("keys", "new", "mykey.txt", "--protocol", "udp") == (0, "New key mykey.der created\n", "")
    assert formats.parse_key(Path("mykey.der").read_bytes()).kind == formats.SEC1_PRIVATE
    assert particle("keys", "new", "--protocol", "tcp")[:2] == (0, "New key device.der created\n")
    assert formats.parse_key(Path("device.der").read_bytes()).kind == formats.PKCS1_PRIVATE


def test_keys_new_never_overwrites_an_existing_private_key(sim, particle):
    sim()
    particle("keys", "new", "k", "--protocol", "tcp")
    first = Path("k.der").read_bytes()
    code, out, _ = particle("keys", "new", "k", "--protocol", "tcp")
    assert code == 0 and out.count("Kept the previous file as ") == 2
    kept = sorted(Path(".").glob("k.*.der"))
    assert len(kept) == 1 and kept[0].read_bytes() == first and Path("k.der").read_bytes() != first


def test_no_device_gives_the_dfu_help_and_fails(sim, particle):
    sim()
    code, out, err = particle("keys", "new")
    assert code == 1 and out == ""
    assert err.startswith("Error creating keys: No devices found\n")


# --- keys load / save -----------------------------------------------------------------------

PLATFORM_PROTOCOLS = [("photon", None), ("p1", None), ("electron", None), ("electron", "tcp"), ("core", None),
                      ("argon", None), ("boron", None)]


@pytest.mark.parametrize("platform,protocol", PLATFORM_PROTOCOLS)
def test_keys_load_backs_up_then_writes_the_exact_bytes(sim, particle, tmp_path, platform, protocol):
    s = sim(platform)
    ident, slot = s.device_id, key_slot(platform, protocol)
    alg = slot.alg
    before = old_key(alg)
    s.poke(slot, before + b"\xff" * (slot.size - len(before)))
    slot_before = s.peek(slot)
    new_key = formats.generate(alg)
    Path("new.der").write_bytes(formats.device_der(new_key))
    code, out, err = particle("keys", "load", "new.der", *(["--protocol", protocol] if protocol else []))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:len(s.learn_id_lines())] == s.learn_id_lines()
    lines = lines[len(s.learn_id_lines()):]
    assert lines[:3] == ["Writing key to device", f"Writing key new.der to device {ident}",
                         f"Saved existing key to backup_{alg}_new.der"]
    assert lines[3].startswith(f"A copy is kept in {tmp_path / 'data' / 'particle-py' / 'key-backups' / ident}/")
    assert lines[4:] == ["Key new.der written to device"]
    der = formats.device_der(new_key)
    assert s.peek(slot) == der + slot_before[len(der):]           # only the key's bytes change
    assert Path(f"backup_{alg}_new.der").read_bytes() == slot_before and mode(f"backup_{alg}_new.der") == 0o600
    archive = Path(lines[3][len("A copy is kept in "):])
    assert archive.read_bytes() == slot_before and mode(archive) == 0o600
    assert formats.parse_key(Path(f"backup_{alg}_new.pub.pem").read_bytes()).der == \
        formats.parse_key(formats.public_pem(formats.parse_key(before).key)).der
    # keys save reads back what was loaded: the whole slot
    assert particle("keys", "save", "back", *(["--protocol", protocol] if protocol else []))[0] == 0
    assert Path("back.der").read_bytes() == s.peek(slot)


def test_keys_load_converts_pkcs8_pem_and_keeps_a_corrupt_old_key_as_raw_bytes(sim, particle):
    s = sim("argon")
    slot = key_slot("argon")
    garbage = bytes(range(192))
    s.poke(slot, garbage)
    from cryptography.hazmat.primitives import serialization as ser
    key = formats.generate("ec")
    Path("k.pem").write_bytes(key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
    code, out, err = particle("keys", "load", "k.pem")
    assert code == 0, err
    assert "The key on the device was not a valid key; its raw bytes were saved as they were." in out
    assert Path("backup_ec_k.der").read_bytes() == garbage
    assert s.peek(slot)[:121] == formats.device_der(key)


@pytest.mark.parametrize("content,message", [
    (lambda: formats.device_der(formats.generate("ec")), "is an EC key but this device's protocol needs an RSA"),
    (lambda: formats.public_pem(formats.generate("rsa")), "is a public key; the device needs its private key"),
    (lambda: b"not a key at all", "is not a key in PEM or DER format"),
])
def test_keys_load_refuses_unusable_keys_before_touching_the_device(sim, particle, content, message):
    s = sim("photon")
    slot = key_slot("photon")
    before = s.peek(slot)
    Path("bad.der").write_bytes(content())
    code, out, err = particle("keys", "load", "bad.der")
    assert code == 1 and message in err and err.startswith("Error writing key to device.: ")
    assert s.peek(slot) == before
    assert not Path("backup_rsa_bad.der").exists()


def test_keys_load_missing_file(sim, particle):
    sim("photon")
    assert particle("keys", "load", "nope.der")[::2] == (
        1, "Error writing key to device.: I couldn't find the file: nope.der\n"
           "Give the path of a key file, e.g. one written by `particle keys new`.\n")


def test_keys_save_reads_the_whole_slot(sim, particle):
    s = sim("photon")
    key = old_key("rsa")
    s.poke(key_slot("photon"), key + b"\xff" * (612 - len(key)))
    assert particle("keys", "save", "mine.pem") == (0, "Saved existing key to mine.der\n", "")
    assert Path("mine.der").read_bytes() == key + b"\xff" * (612 - len(key)) and mode("mine.der") == 0o600
    assert Path("mine.pub.pem").exists()
    assert particle("keys", "save", "mine") == (
        1, "", "The file mine.der already exists, please specify a different file, or use the --force flag.\n")
    assert particle("keys", "save", "mine", "--force")[0] == 0


def test_keys_save_of_a_corrupt_key_keeps_the_bytes_and_fails(sim, particle):
    s = sim("boron")
    s.poke(key_slot("boron"), b"\x30\x10" + b"\x00" * 190)
    code, out, err = particle("keys", "save", "broken")
    assert code == 1
    assert err.startswith("Unable to generate a public key from the key downloaded from the device. This usually "
                          "means you had a corrupt key on the device.\nThe slot's raw bytes were saved to broken.der")
    assert Path("broken.der").read_bytes() == b"\x30\x10" + b"\x00" * 190


# --- keys server / address ------------------------------------------------------------------

@pytest.fixture
def asset_server(standin_server_keys, monkeypatch, tmp_path):
    """Serves stand-ins for particle-cli's assets/keys/*.pub.der on loopback, pinned by their hashes."""
    root = tmp_path / "assets-root"
    (root / "assets" / "keys").mkdir(parents=True)
    (root / "assets" / "keys" / "rsa.pub.der").write_bytes(standin_server_keys["tcp"])
    (root / "assets" / "keys" / "ec.pub.der").write_bytes(standin_server_keys["udp"])
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PARTICLE_PY_ASSET_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(key_ops, "DEFAULT_SERVER_KEYS", {
        proto: (key_ops.DEFAULT_SERVER_KEYS[proto][0], hashlib.sha256(standin_server_keys[proto]).hexdigest())
        for proto in ("tcp", "udp")})
    yield standin_server_keys
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("platform", ["photon", "p1", "electron", "core", "argon", "boron"])
def test_keys_server_default_key_and_address(sim, particle, asset_server, platform):
    s = sim(platform)
    slot = server_slot(platform)
    protocol = by_name(platform).default_protocol
    before = s.peek(slot)
    code, out, err = particle("keys", "server")
    assert code == 0, err
    assert out.splitlines()[-1] == "Okay!  New keys in place, your device will not restart."
    blob = asset_server[protocol]
    assert s.peek(slot) == blob + b"\xff" * (slot.size - len(blob))
    assert Path(f"backup_server_{slot.alg}_{s.device_id}.der").read_bytes() == before
    expected = "tcp://device.spark.io:5683" if protocol == "tcp" else "udp://$id.udp.particle.io:5684"
    assert particle("keys", "address") == (0, f"\n{expected}\n", "")


@pytest.fixture
def no_network(monkeypatch):
    """Downloads go to a loopback port nothing listens on."""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("PARTICLE_PY_ASSET_URL", f"http://127.0.0.1:{port}")


@pytest.mark.parametrize("platform", ["photon", "electron", "argon"])
def test_keys_server_needs_no_network_the_official_keys_are_shipped(sim, particle, no_network, platform):
    s = sim(platform)
    slot = server_slot(platform)
    code, out, err = particle("keys", "server")
    assert code == 0, err
    assert out.splitlines()[-1] == "Okay!  New keys in place, your device will not restart."
    official = key_ops.DEFAULT_SERVER_KEYS[by_name(platform).default_protocol]
    blob = s.peek(slot)[:{"rsa": 512, "ec": 320}[slot.alg]]
    assert hashlib.sha256(blob).hexdigest() == official[1]
    expected = "tcp://device.spark.io:5683" if slot.alg == "rsa" else "udp://$id.udp.particle.io:5684"
    assert particle("keys", "address") == (0, f"\n{expected}\n", "")


def test_keys_server_with_host_and_port_from_a_pem_file(sim, particle):
    s = sim("photon")
    from cryptography.hazmat.primitives.asymmetric import rsa
    server_key = rsa.generate_private_key(65537, 2048)
    Path("server.pub.pem").write_bytes(formats.public_pem(server_key))
    code, out, err = particle("keys", "server", "server.pub.pem", "--host", "192.168.1.10", "--port", "5683")
    assert code == 0, err
    slot = server_slot("photon")
    spki = formats.public_der(server_key)
    expected = bytearray(spki + b"\xff" * (512 - len(spki)))
    expected[384:390] = bytes([0, 4, 192, 168, 1, 10])
    expected[450:452] = (5683).to_bytes(2, "big")
    assert s.peek(slot) == bytes(expected)
    assert particle("keys", "address") == (0, "\ntcp://192.168.1.10:5683\n", "")


def test_keys_server_refuses_a_changed_default_key(sim, particle, asset_server, monkeypatch):
    s = sim("argon")
    monkeypatch.setattr(key_ops, "DEFAULT_SERVER_KEYS", {"udp": ("assets/keys/ec.pub.der", "0" * 64)})
    before = s.peek(server_slot("argon"))
    code, out, err = particle("keys", "server")
    assert code == 1 and "does not match its pinned SHA-256" in err
    assert s.peek(server_slot("argon")) == before


def test_keys_server_device_type_writes_the_file_without_a_device(sim, particle, standin_server_keys):
    sim()
    Path("ec.pub.der").write_bytes(standin_server_keys["udp"][:91])
    code, out, err = particle("keys", "server", "ec.pub.der", "--deviceType", "argon", "--host", "10.0.0.1")
    assert (code, out) == (0, "Okay!  Formatted server key file generated for this type of device.\n"
                              "Written to ec.pub-10_0_0_1-ec.der\n")
    blob = Path("ec.pub-10_0_0_1-ec.der").read_bytes()
    assert len(blob) == 320 and blob[192:198] == bytes([0, 4, 10, 0, 0, 1])
    code, out, err = particle("keys", "server", "--deviceType", "Electron")
    assert code == 1 and err.startswith("`filename` parameter is required when `--deviceType` is set\n"
                                        "Usage: particle keys server [options] [filename] [outputFilename]")
    code, out, err = particle("keys", "server", "ec.pub.der", "--deviceType", "toaster")
    assert code == 1 and err.startswith("Unknown device type toaster. Use one of core, photon,")


# --- keys protocol (Electron) ---------------------------------------------------------------

def test_electron_protocol_switch_changes_the_key_slot_used(sim, particle):
    s = sim("electron")
    assert particle("keys", "protocol") == (0, "Device protocol is set to udp\n", "")
    assert particle("keys", "protocol", "--protocol", "tcp") == (0, "Protocol changed to tcp\n", "")
    assert s.peek(ELECTRON_TRANSPORT_SLOT) == b"\x00"
    assert particle("keys", "protocol") == (0, "Device protocol is set to tcp\n", "")
    particle("keys", "new")
    assert formats.parse_key(Path(f"{s.device_id}.der").read_bytes()).alg == "rsa"
    assert particle("keys", "protocol", "udp") == (0, "Protocol changed to udp\n", "")
    assert s.peek(ELECTRON_TRANSPORT_SLOT) == b"\xff"
    assert particle("keys", "protocol", "--protocol", "ip") == (
        1, "", "Could not change device transport protocol: Invalid protocol\nUse --protocol tcp or --protocol udp.\n")


def test_protocol_cannot_change_on_a_photon(sim, particle):
    sim("photon")
    code, out, err = particle("keys", "protocol", "--protocol", "udp")
    assert code == 1 and err.startswith("Could not change device transport protocol: Protocol cannot be changed "
                                        "for this device\n")


# --- keys doctor ----------------------------------------------------------------------------

@pytest.fixture
def cloud(tmp_path, home):
    from particle_py.sim import cloud as sim_cloud
    running = sim_cloud.start(tmp_path / "sim" / "cloud" / "cloud.sqlite")
    running.db.add_user("alice@example.com", "pw")
    token = running.db.issue_token("alice@example.com")
    (home / ".particle").mkdir(exist_ok=True)
    (home / ".particle" / "particle.config.json").write_text(json.dumps({"apiUrl": running.url,
                                                                         "access_token": token}))
    running.token = token
    yield running
    running.stop()


def _expected_doctor_lines(ident, alg, archive_line, api_url):
    f = f"{ident}_{alg}_new.der"
    # the cloud gets the new key before the device does, so a refused key is never written
    return [f"New key {f} created for device {ident}", f"Saved existing key to backup_{alg}_{f}", archive_line,
            f"attempting to add a new public key for device {ident}", "submitting public key succeeded!",
            f"The new key was not proven: where the cloud at {api_url} answers devices is not known (set "
            f"PARTICLE_PY_CLOUD_HOSTS; docs/handshake.md).",
            "Writing key to device", f"Writing key {f} to device {ident}", f"Key {f} written to device",
            unproven(ident)]


@pytest.mark.parametrize("platform,protocol", [("photon", None), ("p1", None), ("electron", None),
                                               ("electron", "tcp"), ("core", None), ("argon", None),
                                               ("boron", None)])
def test_keys_doctor_end_to_end(sim, cloud, particle, platform, protocol):
    s = sim(platform)
    ident = s.real_id
    slot = key_slot(platform, protocol)
    s.poke(slot, old_key(slot.alg))
    before = s.peek(slot)
    args = ["keys", "doctor", ident] + (["--protocol", protocol] if protocol else [])
    code, out, err = particle(*args)
    assert (code, err) == (0, ""), err
    lines = [ln for ln in out.splitlines() if not ln.startswith("Note: ")]
    assert lines[:len(s.learn_id_lines())] == s.learn_id_lines()
    lines = lines[len(s.learn_id_lines()):]
    okay = lines.index(unproven(ident))
    assert lines[:okay + 1] == _expected_doctor_lines(ident, slot.alg, lines[2], cloud.url)
    # this device's server key slot is empty: the doctor says the device will still not connect
    assert lines[okay + 1].startswith("Warning: the device has no server key (DCT "), lines
    new_der = Path(f"{ident}_{slot.alg}_new.der").read_bytes()
    assert s.peek(slot) == new_der + before[len(new_der):]
    assert Path(f"backup_{slot.alg}_{ident}_{slot.alg}_new.der").read_bytes() == before
    # the cloud holds the new public key: the device connects with it, and not with the old one
    public = formats.public_der(formats.parse_key(new_der).key)
    assert cloud.db.handshake(ident, formats.public_der(formats.parse_key(before).key)) == "key_rejected"
    assert cloud.db.handshake(ident, public) == "ok"
    form = [r for r in cloud.db.requests() if r["path"].startswith("/v1/provisioning/")][0]["form"]
    assert form["algorithm"] == ("rsa" if slot.alg == "rsa" else "ecc")


def test_keys_doctor_short_id_warning(sim, cloud, particle):
    s = sim("photon")
    code, out, err = particle("keys", "doctor", s.device_id[:8].upper())
    assert code == 0, err
    assert out.startswith(key_ops.SHORT_ID_WARNING + "\n")


@pytest.mark.parametrize("breakage,message", [
    ("down", "Could not reach the Particle cloud"),
    ("expired", "Your access token is invalid or has expired."),
    ("logged_out", "You're not logged in."),
])
def test_doctor_stops_before_the_device_when_the_cloud_cannot_take_the_key(sim, cloud, particle, home,
                                                                          breakage, message):
    s = sim("photon")
    slot = key_slot("photon")
    s.poke(slot, old_key("rsa"))
    before = s.peek(slot)
    if breakage == "down":
        cloud.stop()
        cloud.stop = lambda: None
    elif breakage == "expired":
        cloud.db.expire_token(cloud.token)
    else:
        (home / ".particle" / "particle.config.json").write_text(json.dumps({"apiUrl": cloud.url}))
    code, out, err = particle("keys", "doctor", s.device_id)
    assert code == 1 and out == ""
    prefix = "Make sure your device is connected to your computer, and that your computer is online: "
    if breakage == "down":
        assert err.startswith(prefix + message)
    else:                       # the login is the cause: the message says that first, no device advice
        assert err.startswith(message), err
    assert err.rstrip().endswith("Nothing was changed on the device.")
    assert s.peek(slot) == before


@pytest.mark.parametrize("status,cause", [
    ("503", "Error sending public key to server: Simulated cloud failure"),          # cloud went down
    ("401", "Error sending public key to server: Your access token is invalid or has expired."),  # token expired
    ("403", "Error sending public key to server: Simulated cloud failure"),          # permission denied
])
def test_doctor_when_the_cloud_refuses_the_key_writes_nothing(sim, cloud, particle, status, cause):
    s = sim("argon")
    ident, slot = s.device_id, key_slot("argon")
    s.poke(slot, old_key("ec"))
    before = s.peek(slot)
    cloud.db.set_knob("fail", status)
    cloud.db.set_knob("fail_path", "/v1/provisioning")
    code, out, err = particle("keys", "doctor", ident)
    assert code == 1
    assert err.startswith("Make sure your device is connected to your computer, and that your computer is online: "
                          + cause)
    # the cloud goes first: a key it did not take never reaches the device
    assert "written to device" not in out and "Okay!" not in out
    assert s.peek(slot) == before
    assert "Nothing was changed on the device." in err
    # the new key's files are on disk; once the cloud answers, loading and sending them completes the job
    cloud.db.set_knob("fail", None)
    new_der = Path(f"{ident}_ec_new.der").read_bytes()
    assert particle("keys", "load", f"{ident}_ec_new.der")[0] == 0
    assert particle("keys", "send", ident, f"{ident}_ec_new.pub.pem")[0] == 0
    assert cloud.db.handshake(ident, formats.public_der(formats.parse_key(new_der).key)) == "ok"


UNPLUG_CHUNKS = [(1, 18), (18, 36), (36, 400)]      # split so xdist runs them side by side


@pytest.mark.parametrize("first,stop", UNPLUG_CHUNKS)
def test_doctor_unplugged_at_every_step_never_leaves_a_half_written_key(sim, cloud, particle, first, stop):
    """Unplug the device after N control transfers, for every N up to a full run."""
    finished = False
    outcomes = set()
    slot = key_slot("photon")
    old = old_key("rsa")
    before = old + b"\xff" * (612 - len(old))
    for n in range(first, stop):
        s = sim("photon", knobs={"UNPLUG_AFTER": n})
        s.poke(slot, before)
        ident = s.real_id
        code, out, err = particle("keys", "doctor", ident)
        s.replug("photon:real=1")
        after = s.peek(slot)
        new_path = Path(f"{ident}_rsa_new.der")
        new = new_path.read_bytes() if new_path.exists() else None
        is_new = new is not None and after == new + before[len(new):]
        assert after == before or is_new, f"unplugged after {n} transfers: the slot holds neither key"
        outcomes.add((code, "new" if is_new else "old"))
        if code == 0:
            assert is_new
            finished = True
            break
        assert err.startswith("Make sure your device is connected to your computer, and that your computer is "
                              "online: ")
        if after == before and "Key " not in out:
            assert ("Nothing was changed on the device." in err or "previous key" in err
                    or "particle keys load" in err), err
        else:
            assert f"particle keys load backup_rsa_{ident}_rsa_new.der" in err or "To finish" in err, err
        for f in Path(".").iterdir():
            f.unlink()
    if stop == UNPLUG_CHUNKS[-1][1]:
        assert finished, "doctor never completed within 400 transfers"
    else:
        assert not finished, "doctor finished early: move the chunk boundaries down"


def test_normal_mode_device_is_switched_to_dfu(sim, particle):
    s = sim("photon-normal")
    ident = s.real_id
    code, out, err = particle("keys", "new")
    assert (code, err) == (0, ""), err
    assert f"New key {ident}.der created for device {ident}\n" in out
    assert s.bus().devices()[0].profile.name == "photon"         # now in DFU mode


def test_photon_with_an_old_bootloader_and_no_firmware_it_starts_is_refused(sim, cloud, particle):
    # scenario profile: DFU serial 00000000010C, not the id, and no firmware that shows the id;
    # an id given on the command line is not taken on trust (it wrote another device's key before)
    s = sim("photon:real=0")
    slot = key_slot("photon")
    before = s.peek(slot)
    for args in (["0123456789abcdef01234567"], []):
        code, out, err = particle("keys", "doctor", *args)
        assert code == 1
        if args:        # (the scenario board comes back "running" with the same serial)
            assert err == ("Make sure your device is connected to your computer, and that your computer is "
                           "online: Could not confirm the device id: the Photon shows no device id in normal "
                           "mode either\n" + NO_START_HINT + "\nNothing was changed on the device.\n")
        assert s.peek(slot) == before
        assert not [r for r in cloud.db.requests() if r["path"].startswith("/v1/provisioning/")]


def test_keys_send_with_only_a_file_takes_the_id_from_the_device(sim, cloud, particle):
    s = sim("argon")
    key = formats.generate("ec")
    Path("photon.pub.pem").write_bytes(formats.public_pem(key))            # forum 010's command line
    code, out, err = particle("keys", "send", "photon.pub.pem")
    assert (code, err) == (0, "")
    assert out == f"attempting to add a new public key for device {s.real_id}\nsubmitting public key succeeded!\n"
    assert cloud.db.handshake(s.real_id, formats.public_der(key)) == "ok"


def test_doctor_twice_keeps_every_earlier_key_file(sim, cloud, particle):
    s = sim("photon")
    ident, slot = s.real_id, key_slot("photon")
    original = old_key("rsa")
    s.poke(slot, original)
    assert particle("keys", "doctor", ident)[0] == 0
    first_new = Path(f"{ident}_rsa_new.der").read_bytes()
    code, out, err = particle("keys", "doctor", ident)
    assert code == 0, err
    assert out.count("Kept the previous file as ") == 3         # .pem, .der and the older backup
    second_new = Path(f"{ident}_rsa_new.der").read_bytes()
    assert s.peek(slot)[:len(second_new)] == second_new != first_new
    kept = {p.read_bytes() for p in Path(".").glob("*.der")}
    assert {first_new, second_new} <= kept
    assert any(k.startswith(original) for k in kept)               # the very first key, in a backup
    archives = sorted((Path(os.environ["XDG_DATA_HOME"]) / "particle-py" / "key-backups" / ident).glob("*.der"))
    assert [a.read_bytes()[:len(original)] for a in archives][0] == original
    assert archives[1].read_bytes().startswith(first_new)


def test_an_empty_key_slot_is_reported_as_such(sim, particle):
    sim("boron")
    Path("k.der").write_bytes(old_key("ec"))
    code, out, err = particle("keys", "load", "k.der")
    assert code == 0 and "The device had no key (its key slot was empty).\n" in out


@pytest.mark.parametrize("stop_at,message,hint,written", [
    ("New key ", "Interrupted. Nothing was changed on the device.", None, False),
    ("attempting", "Interrupted before the new key was written: the device still has its previous key (saved to "
                   "backup_ec_{id}_ec_new.der).", "Run `particle keys doctor` again", False),
    # the cloud has the new key, the device not yet: both ways out are named
    ("The new key was not proven", "Interrupted after the cloud took the new key, before it was written: the "
                                   "device still has its previous key.", "To finish: particle keys load", False),
    ("Key ", "Interrupted after the new key was written and the cloud has it.", "Press the device's RESET", True),
])
def test_doctor_interrupted_by_ctrl_c_says_where_things_stand(sim, cloud, stop_at, message, hint, written):
    from particle_py.errors import ParticlePyError
    s = sim("electron")
    slot = key_slot("electron")
    s.poke(slot, old_key("ec"))
    before = s.peek(slot)

    def say(line):
        if line.startswith(stop_at):
            raise KeyboardInterrupt
    with pytest.raises(ParticlePyError) as caught:
        key_ops.doctor(s.real_id, reporter=LineReporter(say))
    assert caught.value.message == message.format(id=s.real_id) and caught.value.exit_code == 130
    assert hint is None or hint in caught.value.hint
    new = Path(f"{s.real_id}_ec_new.der").read_bytes()
    assert s.peek(slot) == (new + before[len(new):] if written else before)


def test_keys_server_legacy_positional_ip_and_port(sim, particle):
    s = sim("photon")
    from cryptography.hazmat.primitives.asymmetric import rsa
    Path("default_key.pub.pem").write_bytes(formats.public_pem(rsa.generate_private_key(65537, 2048)))
    code, out, err = particle("keys", "server", "default_key.pub.pem", "192.168.8.14", "8080")
    assert (code, err) == (0, "")
    assert out.startswith("Using 192.168.8.14 as the server address (--host 192.168.8.14).\n")
    assert particle("keys", "address") == (0, "\ntcp://192.168.8.14:8080\n", "")
    assert not Path("192.168.8.14").exists()


def test_a_slot_that_cannot_be_read_is_never_written(sim, particle):
    s = sim("photon:real=1,UPLOAD_ERR=-9")
    slot = key_slot("photon")
    before = s.peek(slot)
    Path("k.der").write_bytes(old_key("rsa"))
    code, out, err = particle("keys", "load", "k.der")
    assert code != 0 and err.startswith("Error writing key to device.: ")
    assert "Saved existing key" not in out and "written to device" not in out
    assert s.peek(slot) == before
