"""Particle's Device OS download (as particle-cli 3.14+ does it), served on loopback: files are
checked before the device is touched, cached after, and a bad answer never reaches flash."""
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from particle_py.firmware import releases
from test_update import assert_release_in_flash, data_writes, release_files


@pytest.fixture
def cloud(release_dirs, isolated_home):
    files = dict(release_files(release_dirs, "2.2.0", "photon"))
    state = {"requests": [], "mangle": None, "crc_off": False}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            state["requests"].append((self.path, self.headers.get("Authorization")))
            if self.path.startswith("/v1/device-os/versions/2.2.0?platform_id=6"):
                base = f"http://127.0.0.1:{self.server.server_port}/files/2.2.0"
                modules = [{"filename": n, "crc": {"storedCrc": zlib.crc32(d[:-4]) ^ (1 if state["crc_off"] else 0)},
                            "prefixInfo": {}} for n, d in files.items()]
                body = json.dumps({"version": "2.2.0", "base_url": base, "modules": modules}).encode()
                self.send_response(200)
            elif self.path.startswith("/v1/device-os/versions/"):
                body, _ = json.dumps({"ok": False, "error": "Not found"}).encode(), self.send_response(404)
            elif self.path.startswith("/files/2.2.0/"):
                body = files[self.path.rsplit("/", 1)[1]]
                if state["mangle"]:
                    body = state["mangle"](body)
                self.send_response(200)
            else:
                body = b"{}"
                self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = isolated_home / ".particle" / "particle.config.json"
    settings = json.loads(config.read_text())
    settings.update(apiUrl=f"http://127.0.0.1:{server.server_port}", access_token="tok-123")
    config.write_text(json.dumps(settings))
    yield state
    server.shutdown()


def test_download_checked_cached_and_flashed(device, run, release_dirs, cloud, tmp_path):
    d = device("photon", mode="dfu")
    code, out, err = run("update", "--target", "2.2.0")
    assert code == 0, err
    assert "Downloading Device OS 2.2.0" in out and "Downloaded Device OS 2.2.0" in out
    assert cloud["requests"][0] == ("/v1/device-os/versions/2.2.0?platform_id=6", "Bearer tok-123")
    assert_release_in_flash(d, release_dirs, "2.2.0", "photon")
    cached = tmp_path / "cache" / "particle-py" / "device-os" / "2.2.0" / "photon"
    assert sorted(p.name for p in cached.iterdir()) == sorted(e.file for e in releases.pinned("2.2.0", "photon").modules)
    # again: from the cache, no request at all
    cloud["requests"].clear()
    assert run("update", "--target", "2.2.0")[0] == 0
    assert cloud["requests"] == []


@pytest.mark.parametrize("fault,expected", [
    ("truncated", "(truncated)"),
    ("flipped", "SHA-256 differs"),
])
def test_bad_download_never_reaches_flash(device, run, cloud, fault, expected, tmp_path):
    d = device("photon", mode="dfu")
    cloud["mangle"] = (lambda b: b[:len(b) // 2]) if fault == "truncated" else (lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:])
    mark = len(d.log())
    code, out, err = run("update", "--target", "2.2.0")
    assert code != 0
    assert expected in err.splitlines()[0] and "(downloaded)" in err.splitlines()[0]
    assert data_writes(d.log()[mark:]) == []
    assert not any((tmp_path / "cache").rglob("*.bin"))


def test_reply_crc_must_match(device, run, cloud):
    d = device("photon", mode="dfu")
    cloud["crc_off"] = True
    mark = len(d.log())
    code, out, err = run("update", "--target", "2.2.0")
    assert code != 0 and err.splitlines()[0].startswith("CRC check failed for module photon-")
    assert data_writes(d.log()[mark:]) == []


def test_unknown_version(device, run, cloud):
    device("photon", mode="dfu")
    code, out, err = run("update", "--target", "7.7.7")
    assert code == 1
    assert err.splitlines()[0] == "Device OS version not found for platform: 6 version: 7.7.7"


def test_a_pinned_release_the_server_does_not_list_is_not_called_unknown(device, run, cloud):
    """Issue 22: "version not found: 2.3.1" above "particle-py knows: 2.2.0, 2.3.1" contradicted itself."""
    d = device("photon", mode="dfu")
    mark = len(d.log())
    code, out, err = run("update", "--target", "2.3.1")
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == "Device OS version not found for platform: 6 version: 2.3.1"
    assert "particle-py knows: " not in err and "also knows: 2.3.1" not in err
    assert ("particle-py knows Device OS 2.3.1's files for Photon but has not got them, and Particle's server "
            "does not list it.") in err
    assert "particle update --target 2.3.1 --from" in err
    assert data_writes(d.log()[mark:]) == []
