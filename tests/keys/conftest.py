"""Fixtures for the keys tests: an isolated home, data/cache dirs and working folder,
and a runner for the `particle` front end in-process (exact stdout, stderr, exit status)."""
from __future__ import annotations

import os

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME (particle-cli config), XDG data/cache (backups, assets) and cwd all under tmp_path."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    for var in ("home", "HOMEPATH", "USERPROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PARTICLE_PY_ASSET_URL", raising=False)
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def particle(capsys):
    """particle(*args) -> (exit status, stdout, stderr), run through the real front end."""
    from particle_py.cli.particle.main import main

    def run(*args):
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def _standin_blob(public_der: bytes, size: int, address_offset: int, tlv: bytes) -> bytes:
    blob = bytearray(public_der + b"\xff" * (size - len(public_der)))
    blob[address_offset:address_offset + len(tlv)] = tlv
    return bytes(blob)


@pytest.fixture(scope="session")
def standin_server_keys():
    """Stand-ins shaped like particle-cli's assets/keys/rsa.pub.der and ec.pub.der
    (particle-cli.md §4.1): our own RSA-2048 / P-256 SPKI DER, 0xFF padding, the same
    host TLVs, port bytes left 0xFFFF. {'tcp': bytes, 'udp': bytes}"""
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    spki = s.PublicFormat.SubjectPublicKeyInfo
    rsa_der = rsa.generate_private_key(65537, 2048).public_key().public_bytes(s.Encoding.DER, spki)
    ec_der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(s.Encoding.DER, spki)
    assert len(rsa_der) == 294 and len(ec_der) == 91
    return {"tcp": _standin_blob(rsa_der, 512, 384, b"\x01\x0fdevice.spark.io\x00"),
            "udp": _standin_blob(ec_der, 320, 192, b"\x01\x13$id.udp.particle.io")}
