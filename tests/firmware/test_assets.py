import hashlib
import http.server
import threading

import pytest

from particle_py import assets
from particle_py.errors import ParticlePyError
from particle_py.firmware import known_apps


@pytest.fixture
def asset_server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            hits.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PARTICLE_PY_ASSET_URL", f"http://127.0.0.1:{server.server_address[1]}/base")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield root / "base", hits
    server.shutdown()
    server.server_close()


def put(root, path, data):
    f = root / path
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(data)


def test_fetch_checks_hash_and_caches(asset_server):
    root, hits = asset_server
    data = b"stand-in tinker" * 100
    put(root, "assets/x/app.bin", data)
    sha = hashlib.sha256(data).hexdigest()
    assert assets.fetch("assets/x/app.bin", sha) == data
    assert assets.fetch("assets/x/app.bin", sha) == data
    assert len(hits) == 1                      # the second came from the cache


def test_fetch_refuses_a_file_with_the_wrong_hash_and_does_not_cache_it(asset_server):
    root, hits = asset_server
    put(root, "assets/x/app.bin", b"tampered")
    with pytest.raises(ParticlePyError, match="does not match its pinned SHA-256"):
        assets.fetch("assets/x/app.bin", "00" * 32)
    with pytest.raises(ParticlePyError):
        assets.fetch("assets/x/app.bin", "00" * 32)
    assert len(hits) == 2


def test_fetch_missing_file_is_a_clear_error(asset_server):
    with pytest.raises(ParticlePyError, match=r"Could not download .*/base/nope.bin: HTTP 404"):
        assets.fetch("nope.bin", "00" * 32)


def test_plain_http_to_other_hosts_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("PARTICLE_PY_ASSET_URL", "http://example.com")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ParticlePyError, match="Refusing to download"):
        assets.fetch("a.bin", "00" * 32)


def test_known_apps_table():
    assert known_apps.find("photon", "tinker").size == 5324
    assert known_apps.find("electron", "tinker-usb-debugging").filename == \
        "tinker-usb-debugging-0.6.0-electron.bin"
    assert known_apps.find("photon", "tinker-usb-debugging") is None
    assert known_apps.APP_NAMES == {"tinker", "tinker-usb-debugging"}
    assert all(len(a.sha256) == 64 for a in known_apps.KNOWN_APPS)


def test_the_official_server_keys_ship_with_the_package_and_match_their_pins(monkeypatch):
    from particle_py.ops.keys import DEFAULT_SERVER_KEYS

    monkeypatch.setenv("PARTICLE_PY_ASSET_URL", "http://127.0.0.1:9/nothing-listens-here")
    sizes = {"tcp": 512, "udp": 320}
    for protocol, (path, sha) in DEFAULT_SERVER_KEYS.items():
        data = assets.fetch(path, sha)
        assert len(data) == sizes[protocol] and hashlib.sha256(data).hexdigest() == sha
        assert assets.packaged(path, sha) == data
        assert assets.packaged(path, "0" * 64) is None       # another pin is not answered from the package
    source = assets.data_path("keys/SOURCE.md").read_text()
    assert "Apache License 2.0" in source and all(sha in source for _p, sha in DEFAULT_SERVER_KEYS.values())
    assert "Apache License" in assets.data_path("keys/LICENSE-particle-cli").read_text()[:200]
