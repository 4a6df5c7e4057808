"""Official Particle assets (server keys, Tinker apps), pinned by SHA-256.

Particle's two server public keys (``particle_py/data/keys``) and the Tinker apps for every
platform particle-cli bundles (``particle_py/data/tinker``, copied from particle-cli 3.51.0's npm
package by ``scripts/ship-tinker``, listed with their hashes in its MANIFEST.json) ship with the
package, all Apache-2.0 from particle-cli (see the SOURCE.md files there and docs/licensing.md),
so `particle keys server` and `particle flash --usb tinker` never need the network. Anything
else, and a pin the shipped copy does not match, is downloaded: ``fetch`` gets
``<base>/<path>`` from particle-cli's repository at a fixed tag, checks the pinned SHA-256, and
caches the file in the user's cache directory. ``PARTICLE_PY_ASSET_URL`` replaces the base URL
(tests serve stand-ins on loopback). TLS certificates are always verified; which URLs and
redirects are followed is the download rule of ``cloud/urls.py``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from particle_py.errors import ParticlePyError

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/particle-iot/particle-cli/v3.49.2"
ENV_BASE_URL = "PARTICLE_PY_ASSET_URL"
DOWNLOAD_TIMEOUT_S = 60
MAX_ASSET_BYTES = 16 * 1024 * 1024

# particle-cli repository path -> file under particle_py/data (shipped in the wheel)
PACKAGED = {
    "assets/keys/rsa.pub.der": "keys/rsa.pub.der",
    "assets/keys/ec.pub.der": "keys/ec.pub.der",
}
# The Tinker apps' list (platform, file, size, SHA-256, source), written by scripts/ship-tinker.
TINKER_MANIFEST = "tinker/MANIFEST.json"


def data_path(name: str) -> Path:
    """A file shipped in particle_py/data (server keys, Tinker apps, the udev rules)."""
    return Path(__file__).resolve().parent / "data" / name


def _shipped_tinker() -> dict:
    """particle-cli repository path -> file under particle_py/data, from the Tinker manifest."""
    import json

    try:
        manifest = json.loads(data_path(TINKER_MANIFEST).read_text())
    except (OSError, ValueError):
        return {}            # a source tree without the apps: they are downloaded instead
    return {app["path"]: "tinker/" + app["file"] for app in manifest.get("apps", ())
            if isinstance(app, dict) and "path" in app and "file" in app}


def packaged(path: str, sha256: str) -> bytes | None:
    """The shipped copy of ``path`` when there is one and it matches ``sha256``, else None."""
    path = path.strip("/")
    name = PACKAGED.get(path) or (_shipped_tinker().get(path) if path.startswith("assets/knownApps/") else None)
    if name is None:
        return None
    try:
        data = data_path(name).read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == sha256.lower() else None


def base_url() -> str:
    return os.environ.get(ENV_BASE_URL, DEFAULT_BASE_URL).rstrip("/")


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("particle-py", appauthor=False)) / "assets"


def _cache_path(path: str, sha256: str) -> Path:
    # The hash is part of the name so a changed pin never picks up a stale file.
    safe = path.strip("/").replace("..", "_")
    return cache_dir() / sha256[:16] / safe


def _download(url: str) -> bytes:
    import urllib.error

    from particle_py.cloud import urls

    hint = (f"Assets are fetched over https only (plain http only from this computer). Check {ENV_BASE_URL} "
            "if it is set, or download the file yourself and give its path.")
    try:
        with urls.urlopen(url, DOWNLOAD_TIMEOUT_S, hint) as resp:
            data = resp.read(MAX_ASSET_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ParticlePyError(f"Could not download {url}: HTTP {exc.code} {exc.reason}",
                              "Check the name, or download the file yourself and give its path.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ParticlePyError(f"Could not download {url}: {reason}",
                              "Check your internet connection, or download the file yourself and "
                              "give its path.") from None
    if len(data) > MAX_ASSET_BYTES:
        raise ParticlePyError(f"Could not download {url}: the file is larger than expected")
    return data


def fetch(path: str, sha256: str) -> bytes:
    """The asset's bytes, from the cache or downloaded; ParticlePyError if it cannot be had
    or does not match ``sha256``."""
    sha256 = sha256.lower()
    shipped = packaged(path, sha256)
    if shipped is not None:
        return shipped
    cached = _cache_path(path, sha256)
    try:
        data = cached.read_bytes()
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    except OSError:
        pass
    url = f"{base_url()}/{path.lstrip('/')}"
    data = _download(url)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ParticlePyError(
            f"Downloaded {url} does not match its pinned SHA-256 (expected {sha256}, got {actual})",
            "The file was not used. Try again later, or download it yourself and give its path.")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(cached.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, cached)
    except OSError:
        pass            # a read-only cache costs a download next time, nothing more
    return data
