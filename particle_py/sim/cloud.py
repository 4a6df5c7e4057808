"""A simulated Particle cloud on loopback: the endpoints particle-py's commands call.

stdlib http.server over sim/cloud_db.py's SQLite state (users, tokens, devices, owners, device
public keys, a request log); the cloud's own server key pair
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
GET /v1/devices (list), GET /v1/devices/<id>, POST /v1/provisioning/<id>,
GET /v1/device-os/versions[/<v>|latest] (sim/device_os_catalog.py) and its release files, and
for the simulator
POST /sim/handshake (a device connecting with its keys).

Beside the API, ``HandshakeServers`` answer the devices' own handshakes on loopback ports (TCP:
sim/handshake_tcp.py, UDP: sim/handshake_dtls.py), deciding from the same database the boot model
reads, and record their ports and the key pairs that stand in for Particle's official server keys
in ``handshake.json`` (docs/handshake.md).

Only the server key generation uses `cryptography` (imported when needed); the
rest runs on the stdlib.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from particle_py.sim.cloud_db import DEFAULT_PASSWORD, DEFAULT_USER, DEVICE_ID_RE, CloudDb, normalise_public_key


# --- what the simulated bus shows ------------------------------------------------------------
def refresh_from_bus(db: CloudDb, device_id: str) -> None:
    """Boot the device as the bus shows it now (simulator folders only), so a device that came
    back from a reset is online (or not) without anything else having looked at it. Here, in
    the server, which sits above both the cloud's state and the bus."""
    sim_dir = db.path.parent.parent
    if db.path.parent.name != "cloud" or not (sim_dir / "state.json").is_file():
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
        shown = simdev.outcome(dev, sim_dir, view=SimCloudView(db))
        if shown is not None and not shown.connected:
            db._q("UPDATE devices SET connected = 0 WHERE id = ?", (device_id.lower(),))
        return


def device_list(db: CloudDb, user: str) -> list:
    """GET /v1/devices: the user's devices, each as the device record says it, with the platform
    (as product_id and platform_id, as for a device in no product) from the simulated bus."""
    ids = [row[0] for row in db._q("SELECT id FROM devices WHERE owner = ? ORDER BY id", (user,))]
    platform_ids = _bus_platforms(db)
    out = []
    for device_id in ids:
        refresh_from_bus(db, device_id)
        device = db.device(device_id)
        platform_id = platform_ids.get(device_id)
        out.append({"id": device["id"], "name": device["name"], "connected": bool(device["connected"]),
                    "product_id": device["product_id"] or platform_id, "platform_id": platform_id})
    return out


def _bus_platforms(db: CloudDb) -> dict:
    sim_dir = db.path.parent.parent
    if db.path.parent.name != "cloud" or not (sim_dir / "state.json").is_file():
        return {}
    from particle_py import platforms
    from particle_py.sim.bus import SimBus
    try:
        bus = SimBus.load(sim_dir)
    except (OSError, ValueError):
        return {}
    found = {}
    for dev in bus.devices():
        platform = platforms.by_name(dev.profile.platform or "")
        if platform is not None and dev.profile.device_id:
            found[dev.profile.device_id.lower()] = platform.platform_id
    return found


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
        match = re.fullmatch(r"/v1/firmware/device-os/v([^/]+)/([^/]+)", path)
        if match and method == "GET":          # release files: a plain GET, as particle-cli fetches them
            return self._device_os_file(*match.groups())
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
        if path == "/v1/devices" and method == "GET":
            return self._send(200, device_list(self.db, user), form, auth)
        match = re.fullmatch(r"/v1/devices/([^/]+)", path)
        if match and method == "GET":
            refresh_from_bus(self.db, match.group(1))
            device = self.db.device(match.group(1))
            if device is None or device["owner"] != user:
                return self._send(403 if device else 404, {"error": "Permission Denied" if device else
                                                           "Device not found."}, form, auth)
            return self._send(200, {"id": device["id"], "name": device["name"],
                                    "connected": bool(device["connected"])}, form, auth)
        match = re.fullmatch(r"/v1/device-os/versions(?:/([^/]+))?", path)
        if match and method == "GET":
            return self._device_os_versions(match.group(1), form, auth)
        match = re.fullmatch(r"/v1/provisioning/([^/]+)", path)
        if match and method == "POST":
            return self._provision(user, match.group(1), form, auth)
        return self._send(404, {"error": "Not found"}, form, auth)

    def _device_os_versions(self, version: Optional[str], form, auth: str) -> None:
        from particle_py.sim import device_os_catalog as catalog

        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        raw_id = (query.get("platform_id") or [""])[-1]
        platform_id = int(raw_id) if raw_id.isdigit() else None
        if version is None:
            return self._send(200, catalog.listing(platform_id), form, auth)
        host, port = self.server.server_address[:2]
        reply = catalog.release_reply(platform_id, version, f"http://{host}:{port}/v1/firmware/device-os") \
            if platform_id is not None else None
        if reply is None:
            return self._send(404, {"ok": False, "error": "Device OS version not found"}, form, auth)
        return self._send(200, reply, form, auth)

    def _device_os_file(self, version: str, name: str) -> None:
        from particle_py.sim import device_os_catalog as catalog

        data = catalog.file_bytes(version, name)
        self.db.log("GET", urllib.parse.urlsplit(self.path).path, "none", None, 200 if data else 404)
        if data is None:
            data = b"Not found"
            self.send_response(404)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

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
        if DEVICE_ID_RE.match(device_id):
            refresh_from_bus(self.db, device_id)
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
        if not DEVICE_ID_RE.match(device_id) or form.get("deviceID", device_id).lower() != device_id:
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


# --- the device handshakes ----------------------------------------------------------------------
# The file in the cloud's folder that says where its handshake servers listen and which of its own
# key pairs stands in for Particle's official server keys (docs/handshake.md): a client told to
# use this cloud (PARTICLE_PY_CLOUD_HOSTS=@<folder>) reads it.
HANDSHAKE_FILE = "handshake.json"


def device_for_key(db: CloudDb, spki_der: bytes):
    """The DTLS server's question (the device id comes only after the handshake): the device the
    cloud holds this public key for; else, while it holds a device with no key yet, a provisional
    yes (the first key a device shows is the one the cloud keeps: sim/boot.py's rule, bound at
    the Hello); else None."""
    key = normalise_public_key(bytes(spki_der))
    rows = db._q("SELECT id FROM devices WHERE public_key = ?", (key,))
    if rows:
        return rows[0][0]
    if db._q("SELECT 1 FROM devices WHERE public_key IS NULL LIMIT 1"):
        return True
    return None


def registered_key_for(db: CloudDb, device_id: str) -> Optional[bytes]:
    """The TCP server's question: the public key (SPKI DER) the cloud holds for the device, if any."""
    import base64
    device = db.device(device_id)
    if not device or not device.get("public_key"):
        return None
    return base64.b64decode(device["public_key"])


def lock_first_key(db: CloudDb, device_id: str, spki_der: bytes) -> None:
    """The TCP server met a device the cloud holds no key for: it keeps the key the device sent (the
    boot model's first-key lock, sim/boot.py); the device's next try is then accepted."""
    device = db.device(device_id)
    if device is None or not device.get("public_key"):
        db.handshake(device_id, bytes(spki_der))


def host_map(db: CloudDb, tcp_port: Optional[int], udp_port: Optional[int]) -> dict:
    """Every server address the boot model accepts (CloudDb.accepts_address), per protocol, mapped to
    the loopback port its handshake server listens on; "$id" stands for the device's id."""
    from particle_py.sim.cloud_db import DEFAULT_PORTS, LOOPBACK_HOSTS, OFFICIAL_HOSTS
    hosts = {}
    for protocol, port in (("tcp", tcp_port), ("udp", udp_port)):
        if port is None:
            continue
        names = list(OFFICIAL_HOSTS[protocol]) + list(LOOPBACK_HOSTS)
        if db.knob("device_host"):
            names.append(db.knob("device_host").lower())
        for name in names:
            hosts.setdefault(protocol, {})[f"{name}:{DEFAULT_PORTS[protocol]}"] = f"127.0.0.1:{port}"
        for host, given in db._q("SELECT host, port FROM addresses"):
            hosts[protocol][f"{host}:{given or DEFAULT_PORTS[protocol]}"] = f"127.0.0.1:{port}"
    return hosts


def _own_pair(folder: Path, alg: str):
    """The cloud's private server key when it is the pair of the public key it publishes, else None
    (a cloud given another public key as its own, e.g. Particle's, cannot answer with it)."""
    from cryptography.hazmat.primitives import serialization
    try:
        private = serialization.load_pem_private_key((folder / f"server_{alg}.pem").read_bytes(), None)
    except (OSError, ValueError, TypeError):
        return None
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return private if (folder / f"server_{alg}.pub.der").read_bytes() == public else None


class HandshakeServers:
    """The TCP (RSA) and UDP (DTLS) handshake servers beside the HTTP API, on loopback ports."""

    def __init__(self, db: CloudDb, host: str = "127.0.0.1"):
        import hashlib
        keys = db.ensure_server_keys()
        folder = db.path.parent
        self.udp = self.tcp = None
        pairs = {alg: _own_pair(folder, alg) for alg in ("rsa", "ec")}
        from particle_py.sim.handshake_dtls import DtlsHandshakeServer
        if pairs["ec"] is not None:
            self.udp = DtlsHandshakeServer(host, 0, (folder / "server_ec.pem").read_bytes(),
                                           lambda spki: device_for_key(db, spki)).start()
        try:
            from particle_py.sim import handshake_tcp
        except ImportError:             # the TCP server is not part of this build
            handshake_tcp = None
        if handshake_tcp is not None and pairs["rsa"] is not None:
            rsa_key = pairs["rsa"]
            self.tcp = handshake_tcp.TcpHandshakeServer(host, 0, rsa_key,
                                                        lambda device_id: registered_key_for(db, device_id),
                                                        on_new_device=lambda device_id, spki:
                                                        lock_first_key(db, device_id, spki))
            self.tcp.start()
        from particle_py.sim.cloud_db import OFFICIAL_SERVER_KEY_SHA256
        udp_port = self.udp.port if self.udp else None
        self.record = {
            "tcp": self.tcp.address[1] if self.tcp else None, "udp": udp_port,
            "hosts": host_map(db, self.tcp.address[1] if self.tcp else None, udp_port),
            # the simulated cloud cannot sign as Particle: a client pointed here by name uses
            # these key pairs where the device holds Particle's official key
            "stands_in_for_official": {alg: {"official_sha256": OFFICIAL_SERVER_KEY_SHA256[alg],
                                             "public_key": keys[alg].name,
                                             "sha256": hashlib.sha256(keys[alg].read_bytes()).hexdigest()}
                                       for alg in ("rsa", "ec") if pairs[alg] is not None},
        }
        self.path = folder / HANDSHAKE_FILE
        from .private import write_private
        write_private(str(self.path), json.dumps(self.record, indent=1).encode())

    def describe(self) -> str:
        served = [f"{p} 127.0.0.1:{self.record[p]}" if self.record[p] else f"{p} not served (the cloud holds "
                  f"no private key for its {p} server key)" for p in ("tcp", "udp")]
        return "Device handshakes: " + ", ".join(served)

    def stop(self) -> None:
        for server in (self.udp, self.tcp):
            if server is not None:
                server.stop()
        try:
            self.path.unlink()
        except OSError:
            pass


class SimCloud:
    """A running simulated cloud (see ``start``)."""

    def __init__(self, db: CloudDb, server: ThreadingHTTPServer, thread: Optional[threading.Thread],
                 handshakes: Optional[HandshakeServers] = None):
        self.db = db
        self.server = server
        self.thread = thread
        self.handshakes = handshakes

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
        if self.handshakes is not None:
            self.handshakes.stop()

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


def start(db_path, host: str = "127.0.0.1", port: int = 0, *, handshakes: bool = False) -> SimCloud:
    """Serve in a background thread; port 0 picks a free port (see ``.port`` / ``.url``).
    ``handshakes``: also answer the devices' handshakes (``.handshakes``), as `particle-sim cloud` does."""
    db, server = _make_server(db_path, host, port)
    # a short poll interval: stop() returns at once (tests start and stop thousands of clouds)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="sim-cloud", daemon=True)
    thread.start()
    return SimCloud(db, server, thread, HandshakeServers(db) if handshakes else None)


def serve(db_path, host: str = "127.0.0.1", port: int = 0, on_ready=None, on_handshakes=None) -> None:
    """Serve until interrupted; ``on_ready(url)`` is called once the ports are bound, then
    ``on_handshakes(servers)`` (the handshake servers listen by then too)."""
    db, server = _make_server(db_path, host, port)
    db.ensure_server_keys()
    handshakes = HandshakeServers(db)
    if on_ready:
        on_ready(f"http://{server.server_address[0]}:{server.server_address[1]}")
    if on_handshakes:
        on_handshakes(handshakes)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        handshakes.stop()
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

    def handshakes_ready(servers):
        print(servers.describe(), flush=True)
        print(f"Reach them as a device would: export PARTICLE_PY_CLOUD_HOSTS=@{state.resolve()}   "
              f"(particle keys verify; docs/handshake.md)", flush=True)

    try:
        serve(state / "cloud.sqlite", args.host, args.port, on_ready=ready, on_handshakes=handshakes_ready)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"particle-sim cloud: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
