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
GET /v1/devices/<id>, POST /v1/provisioning/<id>, and for the simulator
POST /sim/handshake (a device connecting with its keys).

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

    def do_PUT(self):
        self._dispatch("PUT")

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
            refresh_from_bus(self.db, match.group(1))
            device = self.db.device(match.group(1))
            if device is None or device["owner"] != user:
                return self._send(403 if device else 404, {"error": "Permission Denied" if device else
                                                           "Device not found."}, form, auth)
            return self._send(200, {"id": device["id"], "name": device["name"],
                                    "connected": bool(device["connected"])}, form, auth)
        match = re.fullmatch(r"/v1/provisioning/([^/]+)", path)
        if match and method == "POST":
            return self._provision(user, match.group(1), form, auth)
        match = re.fullmatch(r"/v1/devices/([^/]+)/unprotect", path)
        if match and method == "PUT":
            from . import cloud_protection
            status, body = cloud_protection.unprotect(self.db, match.group(1).lower(), user, form)
            return self._send(status, body, form, auth)
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
