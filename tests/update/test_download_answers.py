"""A hostile Device OS download answer (issue 23, finding 13) is a clean error, never a traceback
and never a file outside the cache folder: the cloud's JSON and the file server's raw bytes are
served on loopback."""
import json
import socket
import threading

import pytest

from test_release_rule import p2_part, refused

GOOD = p2_part()


def _serve(answer):
    """A loopback server: the API request gets ``answer("api", port)``, a file request
    ``answer("file", port)``; both raw bytes (a status line, headers, a body)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def loop():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                kind = "api" if b" /v1/device-os/" in request.split(b"\r\n", 1)[0] else "file"
                try:
                    conn.sendall(answer(kind, port))
                except OSError:
                    pass
    threading.Thread(target=loop, daemon=True).start()
    return srv, port


def _http(body: bytes, status=b"HTTP/1.1 200 OK", headers=b"Content-Type: application/json\r\n") -> bytes:
    return status + b"\r\n" + headers + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body


def _api(port, modules=None, base=None):
    base = base if base is not None else f"http://127.0.0.1:{port}/files/5.9.0"
    modules = modules if modules is not None else [{"filename": "p2-system-part1@5.9.0.bin", "prefixInfo": {}}]
    return _http(json.dumps({"version": "5.9.0", "base_url": base, "modules": modules}).encode())


ANSWERS = {
    "modules is a number": lambda kind, port: _api(port, modules=5),
    "file name ..": lambda kind, port: _api(port, modules=[{"filename": ".."}]),
    "file name x/": lambda kind, port: _api(port, modules=[{"filename": "x/"}]),
    "port not a number": lambda kind, port: _api(port, base="http://127.0.0.1:abc/files"),
    "status line not HTTP": lambda kind, port: _api(port) if kind == "api" else b"HELLO THERE\r\n\r\n",
    "header over 64 KiB": lambda kind, port: _api(port) if kind == "api" else
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n",
    "a user part named as the system part": lambda kind, port: _api(port) if kind == "api" else _http(
        __import__("helpers.modules", fromlist=["x"]).build_module("p2", function=5, size=8192, deps=()),
        headers=b""),
}


@pytest.fixture
def hostile(isolated_home, request):
    srv, port = _serve(ANSWERS[request.param])
    config = isolated_home / ".particle" / "particle.config.json"
    settings = json.loads(config.read_text())
    settings.update(apiUrl=f"http://127.0.0.1:{port}", access_token="tok-123")
    config.write_text(json.dumps(settings))
    yield request.param
    srv.close()


@pytest.mark.parametrize("hostile", list(ANSWERS), indirect=True)
def test_a_hostile_download_answer_is_a_clean_error(device, run, hostile, tmp_path):
    from particle_py.firmware import sources

    d = device("p2", mode="dfu", device_os=None)
    line = refused(d, run, "--target", "5.9.0")
    assert "Device OS 5.9.0" in line or "Could not download" in line or "not part of Device OS" in line, line
    # nothing outside the cache's release folder, and no half-written file in it
    cache = sources.cache_dir()
    made = sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) if cache.exists() else []
    assert all(m in ("5.9.0", "5.9.0/p2") for m in made), made
