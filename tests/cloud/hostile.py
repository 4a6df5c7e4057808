"""A hostile Particle API on loopback: every answer is scripted, every request is recorded.

``HostileApi(host)`` serves plain HTTP on ``host`` (127.0.0.1, or 127.0.0.2 as "another
host"); ``HostileApi(host, tls=(cert, key))`` serves HTTPS. ``api.on(path, status, body,
headers)`` scripts the answer of one path (``"*"`` for all). ``api.seen`` lists (method,
path, Authorization header, body) of every request that reached it.
"""
from __future__ import annotations

import http.server
import json
import threading
from typing import Optional


class HostileApi:
    def __init__(self, host: str = "127.0.0.1", tls: Optional[tuple] = None):
        self.answers: dict[str, tuple] = {}
        self.seen: list[tuple] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                api.seen.append((self.command, path, self.headers.get("Authorization"), body))
                status, data, headers = api.answers.get(path) or api.answers.get("*") or (404, b"{}", {})
                if callable(data):
                    data = data(self)
                if status is None:              # drop the connection without a word
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        scheme = "http"
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def on(self, path: str, status: Optional[int], body=b"", headers: Optional[dict] = None) -> "HostileApi":
        if not isinstance(body, (bytes, str)) and not callable(body):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.answers[path] = (status, body, {"Content-Type": "application/json", **(headers or {})})
        return self

    def redirect(self, path: str, location: str, status: int = 302) -> "HostileApi":
        return self.on(path, status, b"", {"Location": location})

    def tokens_seen(self) -> list:
        return [auth for _, _, auth, _ in self.seen if auth]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def self_signed(folder, host: str = "127.0.0.1") -> tuple[str, str]:
    """A certificate for ``host`` (cert.pem, key.pem) that a client trusts via SSL_CERT_FILE."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = f"{folder}/cert.pem", f"{folder}/key.pem"
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path
