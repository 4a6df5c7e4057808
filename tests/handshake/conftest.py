"""Fixtures for the handshake tests: keys, the independent DTLS server (GnuTLS's gnutls-serv with
raw public keys), a UDP proxy that loses, repeats and reorders datagrams, and scripted UDP peers.

gnutls-serv comes from Debian's gnutls-bin (`scripts/install-peers`). Without it the tests that
need it skip with the reason; under CI=true its absence is a failure."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Only what Device OS offers: DTLS 1.2, ECDHE-ECDSA, AES-128-CCM-8, P-256, raw public keys.
# GnuTLS 3.7 needs the generic SIGN-ECDSA-SHA256 beside the curve-bound name to accept the string.
GNUTLS_PRIORITY = ("NONE:+VERS-DTLS1.2:+ECDHE-ECDSA:+AES-128-CCM-8:+AEAD:+SIGN-ECDSA-SECP256R1-SHA256:"
                   "+SIGN-ECDSA-SHA256:+GROUP-SECP256R1:+COMP-NULL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK")


@pytest.fixture(scope="session")
def keys():
    """{'device': private, 'server': private, 'other_server': private} P-256 keys."""
    from cryptography.hazmat.primitives.asymmetric import ec

    return {name: ec.generate_private_key(ec.SECP256R1()) for name in ("device", "server", "other_server")}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GnutlsServer:
    def __init__(self, process: subprocess.Popen, port: int, log_path):
        self.process = process
        self.port = port
        self.log_path = log_path

    def log(self) -> bytes:
        return self.log_path.read_bytes()


@pytest.fixture
def gnutls_serv(tmp_path, keys):
    """start(*extra_options) -> GnutlsServer on 127.0.0.1 with the server key as its raw public key."""
    from cryptography.hazmat.primitives import serialization as s

    binary = shutil.which("gnutls-serv")
    if binary is None:
        reason = "gnutls-serv not installed (Debian gnutls-bin; scripts/install-peers)"
        if IN_CI:
            pytest.fail(f"DTLS judge missing in CI: {reason}")
        pytest.skip(reason)
    key_file = tmp_path / "server.p8"
    key_file.write_bytes(keys["server"].private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
    key_file.chmod(0o600)
    pub_file = tmp_path / "server.pub"
    pub_file.write_bytes(keys["server"].public_key().public_bytes(
        s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
    started = []

    def start(*extra: str) -> GnutlsServer:
        port = free_udp_port()
        log_path = tmp_path / f"gnutls-serv-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [binary, "--udp", "--echo", "-p", str(port), "--priority", GNUTLS_PRIORITY,
                 "--rawpkkeyfile", str(key_file), "--rawpkfile", str(pub_file), *extra],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        server = GnutlsServer(process, port, log_path)
        give_up = time.monotonic() + 10
        while b"listening on IPv4" not in server.log():
            if process.poll() is not None or time.monotonic() > give_up:
                pytest.fail(f"gnutls-serv did not start: {server.log().decode(errors='replace')}")
            time.sleep(0.05)
        return server

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class UdpProxy:
    """Between the client and a server on 127.0.0.1. `to_server(i, datagram)` and
    `to_client(i, datagram)` return the datagrams to pass on now (a list: [] drops, two copies
    repeat); `to_client` may hold datagrams back and release them later. Everything passed is
    recorded in `.seen` as (direction, bytes), and everything that came in `.offered`."""

    def __init__(self, server_port: int, to_server=None, to_client=None):
        self.server = ("127.0.0.1", server_port)
        self.to_server = to_server or (lambda i, d: [d])
        self.to_client = to_client or (lambda i, d: [d])
        self.seen: list[tuple[str, bytes]] = []
        self.offered: list[tuple[str, bytes]] = []
        self.outer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.outer.bind(("127.0.0.1", 0))
        self.inner = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.inner.connect(self.server)
        self.port = self.outer.getsockname()[1]
        self.client_address = None
        self.running = True
        self.threads = [threading.Thread(target=self._up, daemon=True),
                        threading.Thread(target=self._down, daemon=True)]
        for t in self.threads:
            t.start()

    def _up(self):
        self.outer.settimeout(0.1)
        i = 0
        while self.running:
            try:
                datagram, self.client_address = self.outer.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            self.offered.append(("up", datagram))
            for d in self.to_server(i, datagram):
                self.seen.append(("up", d))
                self.inner.send(d)
            i += 1

    def _down(self):
        self.inner.settimeout(0.1)
        i = 0
        while self.running:
            try:
                datagram = self.inner.recv(65535)
            except (socket.timeout, OSError):
                continue
            self.offered.append(("down", datagram))
            for d in self.to_client(i, datagram):
                self.seen.append(("down", d))
                self.outer.sendto(d, self.client_address)
            i += 1

    def sock_factory(self, host, port):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(("127.0.0.1", self.port))
        return sock

    def close(self):
        self.running = False
        for t in self.threads:
            t.join(2)
        self.outer.close()
        self.inner.close()


@pytest.fixture
def udp_proxy():
    made = []

    def make(server_port, to_server=None, to_client=None) -> UdpProxy:
        proxy = UdpProxy(server_port, to_server, to_client)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


class ScriptedPeer:
    """A UDP 'server' that answers the n-th datagram it gets with `answer(n, datagram)` (a list of
    datagrams, maybe empty), counting what it got."""

    def __init__(self, answer):
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.1)
        while self.running:
            try:
                datagram, address = self.sock.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            self.received.append(datagram)
            for d in self.answer(len(self.received) - 1, datagram):
                self.sock.sendto(d, address)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def scripted_peer():
    made = []

    def make(answer) -> ScriptedPeer:
        peer = ScriptedPeer(answer)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


@pytest.fixture
def lab(home, tmp_path, monkeypatch):
    """A simulator folder and its cloud with the handshake servers, reached as a user reaches it."""
    from particle_py.sim import cloud as sim_cloud
    from particle_py.sim import devices as simdev

    folder = tmp_path / "sim"
    monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
    running = []

    class Lab:
        def create(self, platform, **recipe):
            """One board (a platform name) or several (a list), and their cloud."""
            simdev.create(folder, [platform] if isinstance(platform, str) else list(platform),
                          simdev.Recipe(**recipe))
            cloud = sim_cloud.start(folder / "cloud" / "cloud.sqlite", handshakes=True)
            running.append(cloud)
            monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", f"@{folder / 'cloud'}")
            return cloud

        def ids(self) -> list:
            """The boards' device ids, in bus order."""
            from particle_py.sim.bus import SimBus
            return [d.profile.device_id for d in SimBus.load(folder).devices()]

        def reset(self):
            simdev.press(folder, "reset", None)

        def led(self) -> str:
            line = next(ln for ln in simdev.status(folder) if ln.startswith("  LED: "))
            return line[len("  LED: "):].split(" (")[0]

        def flash(self, slot) -> bytes:
            from particle_py.sim.bus import SimBus
            bus = SimBus.load(folder)
            try:
                return bytes(bus.devices()[0].memory(slot.alt).peek(slot.address, slot.size))
            finally:
                bus.save()

    yield Lab()
    for cloud in running:
        cloud.stop()
