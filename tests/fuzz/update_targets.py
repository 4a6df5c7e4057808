"""Fuzz targets of `particle update`'s outside input (registered in mutate.targets()):

- ``release-file``: a file in a --from folder, named as the release's system part and unnamed,
  through the reader and the release-file rule (sources.obtain, no download);
- ``zip-file``: a --from zip, listed and every member read, then obtain over it;
- ``device-os-answer``: the cloud's JSON answer, ``\\n--\\n``, then the file server's raw HTTP
  answer, served on loopback (every other host goes to a closed proxy port: no input reaches
  the network). Nothing may land outside the cache's release folder.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import tempfile
import threading
import zipfile
from pathlib import Path

VERSION = "5.9.0"
NAME = f"p2-system-part1@{VERSION}.bin"
SEPARATOR = b"\n--\n"


def _part(**kw) -> bytes:
    from helpers.modules import build_module
    from particle_py.firmware.module import ModuleFunction as F
    kw.setdefault("version", 5900)
    kw.setdefault("deps", ())
    kw.setdefault("start", 0x08060000)
    return build_module("p2", function=F.SYSTEM_PART, index=1, size=kw.pop("size", 2048), **kw)


@contextlib.contextmanager
def _scratch():
    """A temporary folder that is also the cache home; the environment restored after."""
    keep = dict(os.environ)
    root = Path(tempfile.mkdtemp(prefix="fuzz-update-"))
    os.environ.update({"XDG_CACHE_HOME": str(root / "cache"), "http_proxy": "http://127.0.0.1:9",
                       "https_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"})
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy", "PARTICLE_PY_DEVICE_OS_FROM"):
        os.environ.pop(var, None)
    try:
        yield root
    finally:
        os.environ.clear()
        os.environ.update(keep)
        shutil.rmtree(root, ignore_errors=True)


def _p2():
    from particle_py.platforms import by_name
    return by_name("p2")


def _obtain(paths) -> None:
    from particle_py.firmware import sources
    sources.obtain(_p2(), VERSION, paths=[str(p) for p in paths], allow_download=False)


# --- release-file -----------------------------------------------------------------------------

def release_file_seeds() -> list:
    from helpers.modules import build_module
    return [_part(), _part(version=1000), _part(start=0x08000000), _part(bad_crc=True),
            build_module("p2", function=5, size=2048, deps=()), _part(deps=((2, 0, 60000),)), b"", b"\xff" * 64]


def release_file(data: bytes) -> None:
    with _scratch() as root:
        named, unnamed = root / "named", root / "unnamed"
        named.mkdir()
        unnamed.mkdir()
        (named / NAME).write_bytes(data)
        (unnamed / "part.bin").write_bytes(data)
        from particle_py.errors import ParticlePyError
        for folder in (named, unnamed):
            try:
                _obtain([folder])
            except ParticlePyError:
                pass


# --- zip-file -------------------------------------------------------------------------------------

def zip_seeds() -> list:
    out = []
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=method) as zf:
            zf.writestr(f"release/{NAME}", _part())
            zf.writestr("README.txt", b"Device OS")
        out.append(buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"a/{NAME}", _part(seed=1))
        zf.writestr(f"b/{NAME}", _part(seed=2))
    return out + [buf.getvalue()]


def zip_file(data: bytes) -> None:
    from particle_py.errors import ParticlePyError
    from particle_py.firmware.user_files import UserFiles
    with _scratch() as root:
        path = root / "release.zip"
        path.write_bytes(data)
        try:
            files = UserFiles(str(path), limit=1 << 20)
            for name in list(files.names):
                files.read(name)
        except ParticlePyError:
            pass
        try:
            _obtain([path])
        except ParticlePyError:
            pass


# --- device-os-answer --------------------------------------------------------------------------------

_SERVER: dict = {}


def _file_server() -> int:
    """A loopback server that answers every request with the current input's raw bytes."""
    if "port" not in _SERVER:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        _SERVER.update(port=srv.getsockname()[1], answer=b"", sock=srv)

        def loop():
            while True:
                conn, _ = srv.accept()
                with conn:
                    conn.settimeout(2)
                    try:
                        got = b""
                        while b"\r\n\r\n" not in got and len(got) < 65536:
                            chunk = conn.recv(4096)
                            if not chunk:
                                break
                            got += chunk
                        conn.sendall(_SERVER["answer"])
                    except OSError:
                        pass
        threading.Thread(target=loop, daemon=True).start()
    return _SERVER["port"]


def _http(body: bytes, status=b"HTTP/1.1 200 OK") -> bytes:
    return status + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body


def answer_seeds() -> list:
    good = {"version": VERSION, "base_url": "http://127.0.0.1:PORT/files",
            "modules": [{"filename": NAME, "crc": {"storedCrc": 0}, "prefixInfo": {"moduleFunction": "system_part"}}]}
    part = _part()
    import zlib
    good["modules"][0]["crc"]["storedCrc"] = zlib.crc32(part[:-4])
    seeds = [json.dumps(good).encode() + SEPARATOR + _http(part)]
    for change in ({"modules": 5}, {"modules": [{"filename": ".."}]}, {"modules": [{"filename": "x/"}]},
                   {"base_url": "http://127.0.0.1:abc/files"}, {"base_url": "https://example.invalid/files"}):
        seeds.append(json.dumps({**good, **change}).encode() + SEPARATOR + _http(part))
    seeds.append(json.dumps(good).encode() + SEPARATOR + b"HELLO\r\n\r\n")
    seeds.append(json.dumps(good).encode() + SEPARATOR + b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n")
    seeds.append(b"[]" + SEPARATOR)
    return seeds


def device_os_answer(data: bytes) -> None:
    from particle_py import events
    from particle_py.errors import ParticlePyError
    from particle_py.firmware import sources
    api_part, _, file_part = data.partition(SEPARATOR)
    port = _file_server()
    _SERVER["answer"] = file_part
    text = api_part.decode("utf-8", "replace").replace("PORT", str(port))
    from particle_py.cloud.http import parse_json
    try:
        # as the API client hands it over: parsed with the cloud's bounds (depth, size)
        info = parse_json(text.encode("utf-8"))
    except ValueError:
        info = text

    class Api:
        def request(self, method, path, *args, **kw):
            return info

    with _scratch() as root:
        try:
            sources._download_release(_p2(), VERSION, None, [], events.QUIET, Api())
        except ParticlePyError:
            pass
        cache = root / "cache"
        outside = [p for p in cache.rglob("*") if p.is_file()
                   and p.parent != sources.cache_dir() / VERSION / "p2"] if cache.exists() else []
        if outside:
            raise AssertionError(f"a download wrote outside the cache's release folder: {outside[:3]}")
