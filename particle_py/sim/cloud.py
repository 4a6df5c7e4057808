"""A simulated Particle cloud on loopback: the endpoints particle-py's commands call.

stdlib http.server + sqlite3. State (users, tokens, devices, owners, device public
keys, a request log) lives in one SQLite file; the cloud's own server key pair
is generated once next to it (``server_rsa.pub.der`` / ``server_ec.pub.der`` for
``particle keys server``). It models the key lock of the real cloud: the first
device public key seen for a device is kept, a device presenting another key is
rejected until the owner provisions the new public key (``POST /v1/provisioning``).

It stands in for Particle's cloud: no real handshake runs in the model, so a device
holding Particle's official server public key (what `particle keys server` writes with no
file) connects here as it would to Particle's, as does one holding the cloud's own key or
any server key the cloud was given (``--server-key``, e.g. a local server's). Addresses:
Particle's (``device.spark.io``, ``$id.udp.particle.io``, the 2019-2021 Gen3
``$id.udp-mesh.particle.io``), loopback, and any host it was given (``--address``).

When the cloud lives in a simulator folder (``<PARTICLE_PY_SIM>/cloud``), it looks at the
simulated bus when asked about a device (claim, device info): a device that came back
from a reset in normal mode is online without anything else having booted it first.

Endpoints: POST /oauth/token (password and MFA one-time-password grants),
GET/DELETE /v1/access_tokens/current, GET /v1/user, POST /v1/devices (claim),
GET /v1/devices/<id>, POST /v1/provisioning/<id>, and for the simulator
POST /sim/handshake (a device connecting with its keys).

Only the server key generation uses `cryptography` (imported when needed); the
rest runs on the stdlib.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import secrets
import sqlite3
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
_DEVICE_ID_RE = re.compile(r"^[0-9a-f]{24}$")


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
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

    # --- what the simulated bus shows ------------------------------------------------------
    def refresh_from_bus(self, device_id: str) -> None:
        """Boot the device as the bus shows it now (simulator folders only), so a device that came
        back from a reset is online (or not) without anything else having looked at it."""
        sim_dir = self.path.parent.parent
        if self.path.parent.name != "cloud" or not (sim_dir / "state.json").is_file():
            return
        from particle_py.sim import devices as simdev
        from particle_py.sim.boot import SimCloudView
        from particle_py.sim.bus import SimBus
        try:
            bus = SimBus.load(sim_dir)
        except (OSError, ValueError):
            return
        for dev in bus.devices():
            if (dev.profile.device_id or "").lower() != device_id.lower() or not dev.profile.platform:
                continue
            shown = simdev.outcome(dev, sim_dir, view=SimCloudView(self))
            if shown is not None and not shown.connected:
                self._q("UPDATE devices SET connected = 0 WHERE id = ?", (device_id.lower(),))
            return

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
    fd = os.open(str(private_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.DER,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))


# --- HTTP --------------------------------------------------------------------------------

# knob "fail_mode" answers of a hostile API, proxy or captive portal (the fault matrix's "hostile
# cloud" families): (status, body); redirects take their Location from the mode (and the knob
# "redirect_to" for "redirect-away")
_ESCAPES = "\x1b[2J\x1b[H> Successfully completed login!\x07"
HOSTILE = {
    "empty": (200, b""),
    "list": (200, b"[]"),
    "wrong types": (200, json.dumps({"ok": "true", "access_token": None, "username": 5, "id": 5,
                                     "expires_at": 5}).encode()),
    "deep nesting": (200, b"[" * 100000 + b"]" * 100000),
    "huge": (200, b'{"x": "' + b"a" * (2 << 20) + b'"}'),
    "escapes": (400, json.dumps({"error": _ESCAPES, "error_description": _ESCAPES}).encode()),
    "raw escapes": (200, ("{\"username\": \"" + _ESCAPES + "\"}").encode()),
    "redirect-away": (307, b""),
    "redirect-bad": (302, b""),
    "redirect-loop": (307, b""),
}


class _Handler(BaseHTTPRequestHandler):
    server_version = "particle-sim-cloud/1"
    db: CloudDb = None          # set on the subclass made per server

    def log_message(self, fmt, *args):      # quiet: tests read the request table instead
        pass

    def _form(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            try:
                value = json.loads(raw or b"{}")
                return value if isinstance(value, dict) else {}
            except ValueError:
                return {}
        return {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace"),
                                                           keep_blank_values=True).items()}

    def _send(self, status: int, body: dict, form=None, auth="") -> None:
        self.db.log(self.command, urllib.parse.urlsplit(self.path).path, auth,
                    {k: v for k, v in (form or {}).items() if k not in ("password", "otp", "access_token")}
                    if form is not None else None, status)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _broken(self, mode: str, method: str, path: str, form) -> None:
        self.db.log(method, path, "", None, 0 if mode == "drop" else 200)
        if mode == "drop":
            self.close_connection = True
            return
        headers = {}
        if mode in HOSTILE:
            status, data = HOSTILE[mode]
            kind = "application/json"
            if mode.startswith("redirect"):
                target = {"redirect-away": (self.db.knob("redirect_to") or "http://127.0.0.2:9") + path,
                          "redirect-bad": "http://[::1", "redirect-loop": path}[mode]
                headers["Location"] = target
        else:
            status, kind, data = ((502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>")
                                  if mode == "html" else (200, "application/json", b"\x00{\"ok\": tr\xff"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _bearer(self) -> tuple[Optional[str], Optional[str]]:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None, None
        token = header[7:].strip()
        found = self.db.user_for_token(token)
        return (token, found[0]) if found else (token, None)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        form = self._form() if method in ("POST", "PUT") else None
        # knob "fail" = an HTTP status every API call answers; "fail_path" limits it to one path prefix
        failure = self.db.knob("fail")
        only = self.db.knob("fail_path")
        if failure and not path.startswith("/sim/") and (not only or path.startswith(only)):
            return self._send(int(failure), {"error": "Simulated cloud failure"}, form, "")
        # knob "fail_mode": a broken answer instead of the real one (same fail_path rule):
        # "garbage" = 200 with bytes that are not JSON, "html" = a proxy's 502 HTML page,
        # "drop" = the connection closes with no answer at all
        mode = self.db.knob("fail_mode")
        if mode and not path.startswith("/sim/") and (not only or path.startswith(only)):
            return self._broken(mode, method, path, form)
        if path == "/oauth/token" and method == "POST":
            return self._oauth(form)
        if path.startswith("/sim/") and method == "POST":
            return self._sim(path, form)
        token, user = self._bearer()
        auth = "bearer" if token else "none"
        if user is None:
            return self._send(401, {"error": "invalid_token",
                                    "error_description": "The access token provided is invalid."}, form, auth)
        if path == "/v1/access_tokens/current":
            if method == "DELETE":
                self.db._q("DELETE FROM tokens WHERE token = ?", (token,))
                return self._send(200, {"ok": True}, form, auth)
            expires = self.db.user_for_token(token)[1]
            return self._send(200, {"expires_at": expires, "client": "particle", "scopes": []}, form, auth)
        if path == "/v1/user" and method == "GET":
            return self._send(200, {"username": user}, form, auth)
        if path == "/v1/devices" and method == "POST":
            return self._claim(user, form, auth)
        match = re.fullmatch(r"/v1/devices/([^/]+)", path)
        if match and method == "GET":
            self.db.refresh_from_bus(match.group(1))
            device = self.db.device(match.group(1))
            if device is None or device["owner"] != user:
                return self._send(403 if device else 404, {"error": "Permission Denied" if device else
                                                           "Device not found."}, form, auth)
            return self._send(200, {"id": device["id"], "name": device["name"],
                                    "connected": bool(device["connected"])}, form, auth)
        match = re.fullmatch(r"/v1/provisioning/([^/]+)", path)
        if match and method == "POST":
            return self._provision(user, match.group(1), form, auth)
        return self._send(404, {"error": "Not found"}, form, auth)

    def _oauth(self, form: dict) -> None:
        grant = form.get("grant_type")
        if grant == "password":
            rows = self.db._q("SELECT password, otp FROM users WHERE username = ?", (form.get("username"),))
            if not rows or rows[0][0] != form.get("password"):
                return self._send(400, {"error": "invalid_grant",
                                        "error_description": "User credentials are invalid"}, form, "client")
            if rows[0][1]:
                mfa = secrets.token_hex(12)
                self.db._q("INSERT INTO mfa VALUES (?, ?)", (mfa, form["username"]))
                return self._send(403, {"error": "mfa_required", "mfa_token": mfa}, form, "client")
            username = form["username"]
        elif grant == "urn:custom:mfa-otp":
            rows = self.db._q("SELECT username FROM mfa WHERE mfa_token = ?", (form.get("mfa_token"),))
            otp = self.db._q("SELECT otp FROM users WHERE username = ?", (rows[0][0],)) if rows else []
            if not rows or not otp or otp[0][0] != form.get("otp"):
                return self._send(403, {"error": "invalid_grant",
                                        "error_description": "Invalid or expired login code"}, form, "client")
            self.db._q("DELETE FROM mfa WHERE mfa_token = ?", (form["mfa_token"],))
            username = rows[0][0]
        else:
            return self._send(400, {"error": "unsupported_grant_type"}, form, "client")
        lifetime = int(form.get("expires_in") or 7776000)
        token = self.db.issue_token(username, lifetime if lifetime > 0 else None)
        return self._send(200, {"token_type": "bearer", "access_token": token, "expires_in": lifetime}, form, "client")

    def _claim(self, user: str, form: dict, auth: str) -> None:
        device_id = (form.get("id") or "").lower()
        if _DEVICE_ID_RE.match(device_id):
            self.db.refresh_from_bus(device_id)
        device = self.db.device(device_id)
        if device is None:
            return self._send(404, {"ok": False, "errors": ["device not found"]}, form, auth)
        if device["owner"] and device["owner"] != user:
            return self._send(403, {"ok": False, "errors": ["That belongs to someone else."]}, form, auth)
        if not device["connected"]:
            # The real cloud only claims a device that is online, which a key mismatch prevents.
            return self._send(400, {"ok": False, "errors": ["device is not connected to the cloud"]}, form, auth)
        self.db._q("UPDATE devices SET owner = ? WHERE id = ?", (user, device_id))
        return self._send(200, {"ok": True, "id": device_id, "user_id": user}, form, auth)

    def _provision(self, user: str, device_id: str, form: dict, auth: str) -> None:
        device_id = device_id.lower()
        public_key = form.get("publicKey") or ""
        algorithm = form.get("algorithm")
        if not _DEVICE_ID_RE.match(device_id) or form.get("deviceID", device_id).lower() != device_id:
            return self._send(403, {"ok": False, "error": "Permission Denied"}, form, auth)
        if "-----BEGIN PUBLIC KEY-----" not in public_key or algorithm not in ("rsa", "ecc"):
            return self._send(400, {"ok": False, "error": "Invalid public key"}, form, auth)
        device = self.db.device(device_id)
        if device and device["owner"] and device["owner"] != user:
            return self._send(403, {"ok": False, "error": "Permission Denied"}, form, auth)
        key = normalise_public_key(public_key)
        if device is None:
            self.db._q("INSERT INTO devices (id, public_key, algorithm) VALUES (?, ?, ?)", (device_id, key, algorithm))
        else:
            self.db._q("UPDATE devices SET public_key = ?, algorithm = ? WHERE id = ?", (key, algorithm, device_id))
        if form.get("product_id"):
            self.db._q("UPDATE devices SET product_id = ? WHERE id = ?", (int(form["product_id"]), device_id))
        return self._send(200, {"ok": True, "id": device_id}, form, auth)

    def _sim(self, path: str, form: dict) -> None:
        if path == "/sim/handshake":
            result = self.db.handshake(form.get("device_id", ""), form.get("public_key", ""),
                                       form.get("server_key") or None)
            return self._send(200 if result == "ok" else 403, {"result": result}, form, "sim")
        return self._send(404, {"error": "Not found"}, form, "sim")


class SimCloud:
    """A running simulated cloud (see ``start``)."""

    def __init__(self, db: CloudDb, server: ThreadingHTTPServer, thread: Optional[threading.Thread]):
        self.db = db
        self.server = server
        self.thread = thread

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.server.server_address[0]}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _make_server(db_path, host: str, port: int) -> tuple[CloudDb, ThreadingHTTPServer]:
    db = CloudDb(db_path)
    handler = type("Handler", (_Handler,), {"db": db})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return db, server


def start(db_path, host: str = "127.0.0.1", port: int = 0) -> SimCloud:
    """Serve in a background thread; port 0 picks a free port (see ``.port`` / ``.url``)."""
    db, server = _make_server(db_path, host, port)
    # a short poll interval: stop() returns at once (tests start and stop thousands of clouds)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="sim-cloud", daemon=True)
    thread.start()
    return SimCloud(db, server, thread)


def serve(db_path, host: str = "127.0.0.1", port: int = 0, on_ready=None) -> None:
    """Serve until interrupted; ``on_ready(url)`` is called once the port is bound."""
    db, server = _make_server(db_path, host, port)
    db.ensure_server_keys()
    if on_ready:
        on_ready(f"http://{server.server_address[0]}:{server.server_address[1]}")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        db.close()


def default_state_dir() -> Path:
    base = os.environ.get("PARTICLE_PY_SIM")
    return Path(base) / "cloud" if base else Path("sim-cloud")


def main(argv=None, on_ready=None) -> int:
    """``particle-sim cloud``: serve the simulated cloud on loopback."""
    parser = argparse.ArgumentParser(prog="particle-sim cloud", description=__doc__.split("\n")[0])
    parser.add_argument("--state", help="folder for cloud.sqlite and the server keys "
                                        "(default: $PARTICLE_PY_SIM/cloud or ./sim-cloud)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD[:OTP]",
                        help="create or update a user (OTP makes login ask for that one-time code)")
    parser.add_argument("--device", action="append", default=[], metavar="ID[:OWNER]",
                        help="add a device (24 hex digits), optionally owned by a user")
    parser.add_argument("--server-key", action="append", default=[], metavar="FILE",
                        help="also accept this server public key (DER or PEM; e.g. a local server's). "
                             "Particle's own keys and the cloud's generated ones are always accepted")
    parser.add_argument("--address", action="append", default=[], metavar="HOST[:PORT]",
                        help="also answer devices whose server address is HOST (default port: "
                             "5683 tcp, 5684 udp). Particle's addresses and loopback always work")
    args = parser.parse_args(argv)
    state = Path(args.state) if args.state else default_state_dir()
    db = CloudDb(state / "cloud.sqlite")
    if not args.user and not db._q("SELECT 1 FROM users LIMIT 1"):
        args.user = [f"{DEFAULT_USER}:{DEFAULT_PASSWORD}"]
    for spec in args.user:
        parts = spec.split(":")
        if len(parts) < 2:
            parser.error(f"--user {spec!r}: expected NAME:PASSWORD[:OTP]")
        db.add_user(parts[0], parts[1], parts[2] if len(parts) > 2 else None)
    for spec in args.device:
        device_id, _, owner = spec.partition(":")
        db.add_device(device_id, owner or None)
    for name in args.server_key:
        try:
            db.add_server_key(Path(name).read_bytes())
        except (OSError, ValueError) as exc:
            parser.error(f"--server-key {name}: {getattr(exc, 'strerror', None) or exc}")
    for spec in args.address:
        host, _, port = spec.rpartition(":") if spec.count(":") == 1 else (spec, "", "")
        if port and not port.isdigit():
            parser.error(f"--address {spec!r}: expected HOST[:PORT]")
        db.add_address(host, int(port) if port else None)
    keys = db.ensure_server_keys()
    users = [row[0] for row in db._q("SELECT username FROM users ORDER BY username")]
    db.close()

    def ready(url):
        print(f"Simulated Particle cloud listening on {url}", flush=True)
        print(f"State: {state}", flush=True)
        print(f"Users: {', '.join(users)}"
              + (f"   (log in: particle login -u {DEFAULT_USER} -p {DEFAULT_PASSWORD})"
                 if DEFAULT_USER in users else ""), flush=True)
        print("Server keys accepted: Particle's own (what `particle keys server` writes), the cloud's "
              f"{keys['rsa']} (tcp) and {keys['ec']} (udp), and any given with --server-key", flush=True)
        if on_ready is None:
            print(f'Use it from particle: set "apiUrl": "{url}" in ~/.particle/particle.config.json '
                  f'(particle-sim cloud --use does it)', flush=True)
        else:
            on_ready(url)

    try:
        serve(state / "cloud.sqlite", args.host, args.port, on_ready=ready)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"particle-sim cloud: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
