"""The judge: spark-protocol 0.1.6's Handshake (the open-source Particle cloud's TCP handshake,
run unchanged in Node with its `ursa` calls backed by Node's crypto; spark_protocol/) as the
server, our probe as the device.

spark-protocol 0.1.6 looks a device up by id alone: holding another public key for it, it encrypts
the session key to that key, which the device cannot decrypt (orange). It cannot read a message
sent under another server key and closes ("decryption failed"), as it does on an id it does not
know; the device and the probe see the same close. Needs node and
`scripts/install-peers --npm` (skipped without them, a failure under CI=true)."""
from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from particle_py.handshake import Outcome, Verdict
from particle_py.handshake.tcp import probe

HERE = Path(__file__).resolve().parent
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS") or Path.home() / ".cache" / "particle-py-peers")
SPARK_PROTOCOL = PEERS / "spark-protocol-0.1.6" / "node_modules" / "spark-protocol"
DEVICE_ID = "0123456789abcdef01234567"
REKEYED_ID = "00112233445566778899aabb"
UNKNOWN_ID = "76543210fedcba9876543210"


def pem_public(key) -> bytes:
    from cryptography.hazmat.primitives import serialization as s

    return key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def keys():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return {"server": rsa.generate_private_key(65537, 2048), "other_server": rsa.generate_private_key(65537, 2048),
            "device": rsa.generate_private_key(65537, 1024), "other_device": rsa.generate_private_key(65537, 1024)}


class Judge:
    def __init__(self, process: subprocess.Popen, device_keys: Path):
        self.process = process
        self.device_keys = device_keys
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = int(self.next_line("judge listening ").split()[-1])

    def _read(self):
        for line in self.process.stdout:
            if line.startswith("judge "):
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self, prefix: str = "judge ") -> str:
        while True:
            line = self.lines.get(timeout=20)
            assert line is not None, "the judge stopped"
            if line.startswith(prefix):
                return line


@pytest.fixture(scope="module")
def judge(keys, tmp_path_factory):
    from cryptography.hazmat.primitives import serialization as s

    node = shutil.which("node")
    missing = ("node is not installed" if node is None else
               None if (SPARK_PROTOCOL / "lib" / "Handshake.js").is_file() else
               f"spark-protocol 0.1.6 is not in {PEERS} (scripts/install-peers --npm)")
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the spark-protocol judge is missing in CI: {missing}")
        pytest.skip(f"the spark-protocol judge is skipped: {missing}")
    folder = tmp_path_factory.mktemp("spark-protocol")
    server_pem = folder / "server.pem"
    server_pem.touch(mode=0o600)
    server_pem.write_bytes(keys["server"].private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL,
                                                         s.NoEncryption()))
    device_keys = folder / "devices"
    device_keys.mkdir()
    (device_keys / f"{DEVICE_ID}.pub.pem").write_bytes(pem_public(keys["device"]))
    (device_keys / f"{REKEYED_ID}.pub.pem").write_bytes(pem_public(keys["other_device"]))
    process = subprocess.Popen([node, "--no-deprecation", str(HERE / "spark_protocol" / "handshake_server.js"),
                                str(SPARK_PROTOCOL), str(server_pem), str(device_keys)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield Judge(process, device_keys)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_keys_spark_protocol_holds_are_accepted(judge, keys):
    verdict = probe("127.0.0.1", judge.port, DEVICE_ID, keys["device"], keys["server"].public_key())
    assert verdict == Verdict(Outcome.ACCEPTED, "tcp", "127.0.0.1", judge.port,
                              f"TCP 127.0.0.1:{judge.port}: the cloud sent a session key for this device key, "
                              f"signed by this server key")
    assert judge.next_line().endswith(" sends the session key")


def test_another_public_key_in_spark_protocol_is_the_devices_decryption_error(judge, keys):
    verdict = probe("127.0.0.1", judge.port, REKEYED_ID, keys["device"], keys["server"].public_key())
    assert verdict.outcome is Outcome.DEVICE_KEY_REJECTED
    assert verdict.detail == (f"TCP 127.0.0.1:{judge.port}: decryption error: the session key is not encrypted "
                              f"to this device key (the cloud holds another public key for this device); the "
                              f"device blinks orange")
    assert judge.next_line().endswith(" sends the session key")


def test_another_server_key_in_the_dct_is_closed_on(judge, keys):
    verdict = probe("127.0.0.1", judge.port, DEVICE_ID, keys["device"], keys["other_server"].public_key())
    assert verdict.outcome is Outcome.DEVICE_KEY_REJECTED
    assert verdict.detail.endswith("or it could not read them (this server key is not the cloud's)")
    assert judge.next_line().endswith(" failed: decryption failed")


def test_an_unknown_id_is_closed_on_and_spark_protocol_keeps_the_key_the_device_sent(judge, keys):
    verdict = probe("127.0.0.1", judge.port, UNKNOWN_ID, keys["device"], keys["server"].public_key())
    assert verdict.outcome is Outcome.DEVICE_KEY_REJECTED
    assert judge.next_line().endswith(f" failed: couldn't find key for core: {UNKNOWN_ID}")
    # what it read out of the 162 bytes after the id is the device's public key, whole; it
    # writes the file just after it has failed the handshake
    kept_file = judge.device_keys / f"{UNKNOWN_ID}_handshake.pub.pem"
    deadline = time.monotonic() + 10
    while not kept_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    kept = kept_file.read_text()
    assert kept.replace("\n", "") == pem_public(keys["device"]).decode().replace("\n", "")
