"""The simulated Particle cloud's state: users, tokens, devices, owners, device public keys, the
server keys and addresses it answers with, and a request log, in one SQLite file (``CloudDb``).

The HTTP endpoints over it are sim/cloud.py's; what the simulated devices make of it in their
handshake is sim/boot.py's ``SimCloudView``. Only the server key generation uses `cryptography`
(imported when needed); the rest runs on the stdlib.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, password TEXT NOT NULL, otp TEXT);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, username TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mfa (mfa_token TEXT PRIMARY KEY, username TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, owner TEXT, name TEXT, public_key TEXT,
                                    algorithm TEXT, connected INTEGER NOT NULL DEFAULT 0, product_id INTEGER);
CREATE TABLE IF NOT EXISTS requests (n INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT, path TEXT,
                                     auth TEXT, form TEXT, status INTEGER);
CREATE TABLE IF NOT EXISTS knobs (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS server_keys (alg TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (alg, key));
CREATE TABLE IF NOT EXISTS addresses (host TEXT PRIMARY KEY, port INTEGER);
"""
# Particle's own server public keys: SHA-256 of the SubjectPublicKeyInfo DER that starts
# particle-cli's assets/keys/rsa.pub.der (tcp) and ec.pub.der (udp), the files
# particle_py/keys/flows.py pins whole (tests/cloud checks both against the npm package).
# A digest, not the key: the simulator carries no copy of Particle's files.
OFFICIAL_SERVER_KEY_SHA256 = {
    "rsa": "aa8aba3c973ed4b668999047a09597948f36eefde525352e705fe8ef98c1677e",
    "ec": "a22c78edbbefc04dec7333da227fc6f6904754d17d042099c765a02864555183",
}
# Hosts Particle's cloud answers at ($id is the device id), per protocol; ports are the defaults.
OFFICIAL_HOSTS = {"tcp": ("device.spark.io",), "udp": ("$id.udp.particle.io", "udp.particle.io",
                                                       "$id.udp-mesh.particle.io")}
DEFAULT_PORTS = {"tcp": 5683, "udp": 5684}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
NEVER = "9999-12-31T23:59:59.999Z"
# The user a new cloud starts with when none is given (printed at start, docs/walkthrough.md).
DEFAULT_USER, DEFAULT_PASSWORD = "me@example.com", "particle"
DEVICE_ID_RE = re.compile(r"^[0-9a-f]{24}$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)


def normalise_public_key(pem_or_der) -> str:
    """Canonical text for a public key, so the same key in PEM or DER compares equal."""
    if isinstance(pem_or_der, str):
        pem_or_der = pem_or_der.encode()
    if b"-----BEGIN" in pem_or_der:
        body = b"".join(ln.strip() for ln in pem_or_der.splitlines() if ln.strip() and b"-----" not in ln)
        try:
            return base64.b64encode(base64.b64decode(body)).decode()
        except ValueError:
            return body.decode(errors="replace")
    return base64.b64encode(bytes(pem_or_der)).decode()


class CloudDb:
    """The simulated cloud's state; every method is one transaction."""

    def __init__(self, db_path):
        self.path = Path(db_path)
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(0o700, parents=True, exist_ok=True)
        if str(self.path) != ":memory:":
            from .private import make_private_file
            make_private_file(str(self.path))      # users' passwords and tokens
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        # A simulator's state need not survive a power cut: skip the per-commit fsync, keep it fast.
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.executescript(SCHEMA)

    def close(self):
        with self._lock:
            self._conn.close()

    def _q(self, sql: str, args=()):
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # --- administration (tests, demo) ---------------------------------------------------
    def add_user(self, username: str, password: str, otp: Optional[str] = None) -> None:
        self._q("INSERT OR REPLACE INTO users VALUES (?, ?, ?)", (username, password, otp))

    def issue_token(self, username: str, lifetime_s: Optional[int] = 7776000) -> str:
        token = secrets.token_hex(20)
        expires = NEVER if lifetime_s is None else _iso(_now() + dt.timedelta(seconds=lifetime_s))
        self._q("INSERT INTO tokens VALUES (?, ?, ?)", (token, username, expires))
        return token

    def expire_token(self, token: str) -> None:
        self._q("UPDATE tokens SET expires_at = ? WHERE token = ?", (_iso(_now() - dt.timedelta(seconds=1)), token))

    def add_device(self, device_id: str, owner: Optional[str] = None, public_key=None, name: str = "",
                   connected: bool = False) -> None:
        key = normalise_public_key(public_key) if public_key is not None else None
        self._q("INSERT OR REPLACE INTO devices (id, owner, name, public_key, connected) VALUES (?, ?, ?, ?, ?)",
                (device_id.lower(), owner, name, key, int(connected)))

    def device(self, device_id: str) -> Optional[dict]:
        rows = self._q("SELECT id, owner, name, public_key, algorithm, connected, product_id FROM devices "
                       "WHERE id = ?", (device_id.lower(),))
        if not rows:
            return None
        keys = ("id", "owner", "name", "public_key", "algorithm", "connected", "product_id")
        return dict(zip(keys, rows[0]))

    def requests(self) -> list[dict]:
        rows = self._q("SELECT method, path, auth, form, status FROM requests ORDER BY n")
        return [{"method": m, "path": p, "auth": a, "form": json.loads(f) if f else None, "status": s}
                for m, p, a, f, s in rows]

    def set_knob(self, name: str, value: Optional[str]) -> None:
        if value is None:
            self._q("DELETE FROM knobs WHERE name = ?", (name,))
        else:
            self._q("INSERT OR REPLACE INTO knobs VALUES (?, ?)", (name, value))

    def knob(self, name: str) -> Optional[str]:
        rows = self._q("SELECT value FROM knobs WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def log(self, method, path, auth, form, status) -> None:
        self._q("INSERT INTO requests (method, path, auth, form, status) VALUES (?, ?, ?, ?, ?)",
                (method, path, auth, json.dumps(form) if form is not None else None, status))

    # --- the model ----------------------------------------------------------------------
    def user_for_token(self, token: str) -> Optional[tuple[str, str]]:
        rows = self._q("SELECT username, expires_at FROM tokens WHERE token = ?", (token,))
        if not rows:
            return None
        username, expires = rows[0]
        if expires != NEVER and dt.datetime.fromisoformat(expires.replace("Z", "+00:00")) <= _now():
            return None
        return username, expires

    def handshake(self, device_id: str, public_key, server_key=None) -> str:
        """A device connecting: 'ok', 'key_rejected' (the key lock) or 'server_key_mismatch'.

        The first key seen for a device is kept (the lock); a device presenting a
        different key is refused until its owner provisions that key.
        """
        device_id = device_id.lower()
        if server_key is not None and not self.accepts_server_key(_spki_der(server_key)):
            return "server_key_mismatch"
        key = normalise_public_key(public_key)
        device = self.device(device_id)
        if device is None:
            self._q("INSERT INTO devices (id, public_key, connected) VALUES (?, ?, 1)", (device_id, key))
            return "ok"
        if device["public_key"] is None or device["public_key"] == key:
            self._q("UPDATE devices SET public_key = ?, connected = 1 WHERE id = ?", (key, device_id))
            return "ok"
        self._q("UPDATE devices SET connected = 0 WHERE id = ?", (device_id,))
        return "key_rejected"

    def server_keys_dir(self) -> Optional[Path]:
        return self.path.parent

    # --- server keys and addresses the cloud answers with ---------------------------------
    def add_server_key(self, key) -> str:
        """Accept a server public key (PEM or DER, SPKI or a formatted DCT blob) as the cloud's
        own; returns its algorithm ('rsa' or 'ec')."""
        spki = _spki_der(key)
        from particle_py.sim import der
        try:
            alg = der.parse_spki(spki)[0]
        except (der.DerError, ValueError) as exc:
            raise ValueError(f"not a public key: {exc}") from None
        self._q("INSERT OR IGNORE INTO server_keys VALUES (?, ?)", (alg, base64.b64encode(spki).decode()))
        return alg

    def accepts_server_key(self, spki_der: bytes) -> bool:
        """Particle's official key, the cloud's own generated key, or one it was given."""
        import hashlib
        if hashlib.sha256(spki_der).hexdigest() in OFFICIAL_SERVER_KEY_SHA256.values():
            return True
        own = (self.path.parent / f"server_{alg}.pub.der" for alg in ("rsa", "ec"))
        if any(p.is_file() and p.read_bytes() == spki_der for p in own):
            return True
        text = base64.b64encode(spki_der).decode()
        return bool(self._q("SELECT 1 FROM server_keys WHERE key = ?", (text,)))

    def add_address(self, host: str, port: Optional[int] = None) -> None:
        """Answer at ``host`` (any protocol) on ``port`` (default: the protocol's)."""
        self._q("INSERT OR REPLACE INTO addresses VALUES (?, ?)", (host.lower(), port))

    def accepts_address(self, protocol: str, host: str, port: int, device_id: str = "") -> bool:
        default_port = DEFAULT_PORTS.get(protocol)
        official = {h.replace("$id", device_id.lower()) for h in OFFICIAL_HOSTS.get(protocol, ())}
        host = host.lower()
        if host in official or host in LOOPBACK_HOSTS or host == (self.knob("device_host") or "").lower():
            return port == default_port
        rows = self._q("SELECT port FROM addresses WHERE host = ?", (host,))
        return bool(rows) and port == (rows[0][0] or default_port)

    def addresses(self) -> list[str]:
        return [f"{h}:{p}" if p else h for h, p in self._q("SELECT host, port FROM addresses ORDER BY host")]

    def ensure_server_keys(self) -> dict[str, Path]:
        """The cloud's own server key pair, made once: {'rsa': .pub.der path, 'ec': .pub.der path}."""
        folder = self.path.parent
        out = {}
        for alg in ("rsa", "ec"):
            pub = folder / f"server_{alg}.pub.der"
            if not pub.exists():
                _make_server_key(alg, folder / f"server_{alg}.pem", pub)
            out[alg] = pub
        return out


def _spki_der(key) -> bytes:
    """SubjectPublicKeyInfo DER of a key given as PEM or DER, trimming a DCT blob's padding/address."""
    from particle_py.sim import der
    if isinstance(key, str):
        key = key.encode()
    key = bytes(key)
    if b"-----BEGIN" in key:
        key = base64.b64decode(normalise_public_key(key))
    try:
        return key[:der.der_length(key)]
    except der.DerError:
        return key


def _make_server_key(alg: str, private_path: Path, public_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = rsa.generate_private_key(65537, 2048) if alg == "rsa" else ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    from .private import write_private
    write_private(str(private_path), private)
    # public, but the key the simulated cloud answers with: nobody else may swap it
    write_private(str(public_path), key.public_key().public_bytes(serialization.Encoding.DER,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
