"""Issue 23, "Smaller": one URL rule for every download (cloud/urls.py). The URL is parsed, not
matched as a prefix (``http://localhost.example/`` and ``http://localhost@other-host/`` are not
loopback), and a redirect that changes host or scheme is refused, for the official assets
(PARTICLE_PY_ASSET_URL) and the Device OS download alike. Servers are on loopback."""
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from particle_py import assets
from particle_py.cloud.urls import download_problem
from particle_py.errors import ParticlePyError


@pytest.mark.parametrize("url,allowed", [
    ("https://raw.githubusercontent.com/particle-iot/particle-cli/v3.49.2", True),
    ("HTTPS://binaries.particle.io/device-os/v2.2.0", True),
    ("http://127.0.0.1:8080/base", True), ("http://127.9.9.9/x", True), ("http://[::1]:99/x", True),
    ("http://localhost:8000/x", True), ("http://LOCALHOST./x", True),
    ("http://localhost.example/", False), ("http://localhost@other-host/", False),
    ("http://127.0.0.1.evil.example/", False), ("http://user:pw@127.0.0.1/", False),
    ("https://user@binaries.particle.io/", False), ("http://example.com", False),
    ("http://127.0.0.1:99999/", False), ("http://127.0.0.1:port/", False), ("ftp://127.0.0.1/", False),
    ("file:///etc/passwd", False), ("https://", False), ("https://a b/", False), ("", False),
])
def test_the_url_rule(url, allowed):
    assert (download_problem(url) is None) == allowed


@pytest.fixture
def site():
    """A loopback server: /data/<name> answers routes[name] = bytes, or ("redirect", location)."""
    routes = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            answer = routes.get(self.path, b"")
            if isinstance(answer, tuple):
                self.send_response(302)
                self.send_header("Location", answer[1].replace("PORT", str(self.server.server_port)))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if callable(answer):
                answer = answer(self.server.server_port)
            self.send_response(200 if self.path in routes else 404)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield routes, server.server_port
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("base", ["http://localhost.example", "http://localhost@other-host"])
def test_an_asset_url_that_only_starts_like_loopback_is_refused(monkeypatch, tmp_path, base):
    monkeypatch.setenv("PARTICLE_PY_ASSET_URL", base)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ParticlePyError) as caught:
        assets.fetch("assets/x/a.bin", "00" * 32)
    why = "plain http to another computer" if "example" in base else "carries a user name or password"
    assert caught.value.message.startswith(f"Refusing to download: {base}/assets/x/a.bin ")
    assert why in caught.value.message
    assert "PARTICLE_PY_ASSET_URL" in caught.value.hint


def test_an_asset_redirect_to_another_host_is_refused_and_one_on_the_same_host_followed(site, monkeypatch, tmp_path):
    routes, port = site
    good = b"the real asset"
    routes["/base/moved.bin"] = ("redirect", "/base/here.bin")
    routes["/base/here.bin"] = good
    routes["/base/away.bin"] = ("redirect", "http://localhost:PORT/base/here.bin")     # same machine, other name
    monkeypatch.setenv("PARTICLE_PY_ASSET_URL", f"http://127.0.0.1:{port}/base")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert assets.fetch("moved.bin", hashlib.sha256(good).hexdigest()) == good
    with pytest.raises(ParticlePyError) as caught:
        assets.fetch("away.bin", hashlib.sha256(good).hexdigest())
    assert caught.value.message == (f"Refusing to download http://127.0.0.1:{port}/base/away.bin: it redirects to "
                                    f"http://localhost:{port}/base/here.bin, another server")
    assert not list(tmp_path.rglob("away.bin"))            # nothing cached


def _device_os(routes, base):
    from particle_py.firmware import releases
    pin = releases.pinned("2.2.0", "photon")
    modules = [{"filename": m.file, "prefixInfo": {}} for m in pin.modules]
    routes["/v1/device-os/versions/2.2.0?platform_id=6"] = lambda port: json.dumps(
        {"version": "2.2.0", "base_url": base.replace("PORT", str(port)), "modules": modules}).encode()
    return pin


@pytest.mark.parametrize("base", ["http://localhost.example/files", "http://localhost@other-host/files"])
def test_a_device_os_base_url_that_only_starts_like_loopback_is_refused(site, monkeypatch, tmp_path, base):
    from particle_py.cloud.api import ApiClient
    from particle_py.firmware import sources
    from particle_py.platforms import by_name

    routes, port = site
    _device_os(routes, base)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ParticlePyError) as caught:
        sources.obtain(by_name("photon"), "2.2.0", api=ApiClient(f"http://127.0.0.1:{port}", "t" * 40))
    assert "the cloud's answer names a download address particle-py does not fetch from (" + base in \
        caught.value.message
    assert caught.value.hint.startswith("Nothing was written to the device.")


def test_a_device_os_file_redirected_to_another_host_is_refused(site, monkeypatch, tmp_path):
    from particle_py.cloud.api import ApiClient
    from particle_py.firmware import sources
    from particle_py.platforms import by_name

    routes, port = site
    pin = _device_os(routes, "http://127.0.0.1:PORT/files")
    for m in pin.modules:
        routes[f"/files/{m.file}"] = ("redirect", f"http://localhost:PORT/files/{m.file}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ParticlePyError) as caught:
        sources.obtain(by_name("photon"), "2.2.0", api=ApiClient(f"http://127.0.0.1:{port}", "t" * 40))
    first = pin.modules[0].file
    assert caught.value.message == (f"Refusing to download http://127.0.0.1:{port}/files/{first}: it redirects to "
                                    f"http://localhost:{port}/files/{first}, another server")
    assert caught.value.hint.startswith("Nothing was written to the device.")
    assert not list(tmp_path.rglob("*.bin"))
