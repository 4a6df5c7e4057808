"""Where a Device OS release's files come from, checked before anything touches a device.

Order: the user cache (platformdirs), the folders or zips the user names (``--from``, or
``PARTICLE_PY_DEVICE_OS_FROM``: paths separated by os.pathsep), then Particle's Device OS
download as particle-cli 3.14+ does it (``GET /v1/device-os/versions/<v>?platform_id=<id>``
with the user's token, then each file from the reply's ``base_url``). Every file is checked:
a module header for this platform, its CRC (and the reply's CRC when downloaded), and, when
the release is pinned, its size and SHA-256. A file that fails is never returned; downloaded
files are cached only once they pass.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from particle_py import events
from particle_py.errors import EX_DATAERR, ParticlePyError
from particle_py.firmware.module import FirmwareModule, ModuleFunction, parse
from particle_py.firmware.releases import PinnedRelease, pinned
from particle_py.platforms import Platform

ENV_FROM = "PARTICLE_PY_DEVICE_OS_FROM"
DOWNLOAD_TIMEOUT_S = 120
MAX_MODULE_BYTES = 8 * 1024 * 1024
EX_NO_RELEASE = 1


@dataclass
class ReleaseFile:
    name: str
    data: bytes
    module: FirmwareModule
    origin: str                 # "cache", "<path>", "download"


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("particle-py", appauthor=False)) / "device-os"


def _cache_path(version: str, platform: Platform, name: str) -> Path:
    return cache_dir() / version / platform.name / os.path.basename(name)


def from_paths(given: Iterable[str] = ()) -> list[str]:
    paths = [p for p in given if p]
    env = os.environ.get(ENV_FROM, "")
    paths += [p for p in env.split(os.pathsep) if p]
    return paths


class _Folder:
    """A folder or a zip the user named: files found by base name (at any depth)."""

    def __init__(self, path: str):
        self.path = path
        self.names: dict[str, object] = {}
        if os.path.isdir(path):
            for root, _dirs, files in os.walk(path):
                for name in files:
                    self.names.setdefault(name, os.path.join(root, name))
        elif os.path.isfile(path) and zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as zf:
                    for info in zf.infolist():
                        if not info.is_dir():
                            self.names.setdefault(os.path.basename(info.filename), info.filename)
            except (zipfile.BadZipFile, OSError) as exc:
                raise self._unreadable(exc) from None
        else:
            raise ParticlePyError(f"--from {path}: not a folder or a zip file",
                                  "Nothing was written to the device. Give the folder (or .zip) that holds the "
                                  "Device OS .bin files.", EX_NO_RELEASE)

    def _unreadable(self, exc) -> ParticlePyError:
        return ParticlePyError(f"--from {self.path}: cannot be read ({exc})",
                               "Nothing was written to the device. Download or copy the files again.", EX_DATAERR)

    def read(self, name: str) -> Optional[bytes]:
        where = self.names.get(name)
        if where is None:
            return None
        if os.path.isdir(self.path):
            with open(where, "rb") as fh:
                return fh.read(MAX_MODULE_BYTES + 1)
        try:
            with zipfile.ZipFile(self.path) as zf:
                with zf.open(where) as fh:
                    return fh.read(MAX_MODULE_BYTES + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:   # CRC errors, bad compression
            raise self._unreadable(exc) from None

    def matching(self, platform: Platform, version: str) -> list[str]:
        """File names that look like this release's modules (an unpinned release)."""
        prefix = f"{platform.name}-"
        return sorted(n for n in self.names if n.startswith(prefix) and f"@{version}" in n and n.endswith(".bin"))


def local_versions(platform: Platform, paths: Iterable[str] = ()) -> list[str]:
    """Device OS versions whose files for ``platform`` are at hand without a download (the cache,
    the folders given or in PARTICLE_PY_DEVICE_OS_FROM; names as Particle's: p2-system-part1@5.8.0.bin),
    oldest first. For platforms with no pinned release (the P2), where the doctor looks."""
    from particle_py.firmware.releases import is_version, version_key

    found = set()
    cached = cache_dir()
    if cached.is_dir():
        found.update(v.name for v in cached.iterdir() if (v / platform.name).is_dir() and any((v / platform.name).iterdir()))
    prefix = f"{platform.name}-system-part"
    for path in from_paths(paths):
        for name in _Folder(path).names:
            if name.startswith(prefix) and "@" in name and name.endswith(".bin"):
                found.add(name[name.rindex("@") + 1:-len(".bin")])
    return sorted((v for v in found if is_version(v)), key=version_key)


def check_file(name: str, data: bytes, platform: Platform, *, pin=None, crc: Optional[int] = None,
               origin: str = "") -> FirmwareModule:
    """The parsed module, or ParticlePyError saying what is wrong with this file."""
    where = f" ({origin})" if origin else ""
    hint = ("Nothing was written to the device. Download the file again, or remove it from particle-py's "
            f"cache ({cache_dir()}) and run the command again.")
    if pin is not None:
        if len(data) != pin.size:
            raise ParticlePyError(f"{name}{where} is {len(data)} bytes; Device OS's file is {pin.size} bytes "
                                  f"({'truncated' if len(data) < pin.size else 'too long'})", hint, EX_DATAERR)
        if hashlib.sha256(data).hexdigest() != pin.sha256:
            raise ParticlePyError(f"{name}{where} does not match the published file (SHA-256 differs)",
                                  hint, EX_DATAERR)
    module = parse(data)
    if module.prefix is None:
        raise ParticlePyError(f"{name}{where} is not a Particle module (no module header)", hint, EX_DATAERR)
    if not module.crc_ok or (crc is not None and module.stored_crc != crc):
        raise ParticlePyError(f"CRC check failed for module {name}{where}", hint, EX_DATAERR)
    if module.prefix.platform_id != platform.platform_id:
        raise ParticlePyError(f"Module {name}{where} is not compatible with platform {platform.name}",
                              "Nothing was written to the device. Give the files for this device's platform.",
                              EX_DATAERR)
    return module


def obtain(platform: Platform, version: str, *, paths: Iterable[str] = (), allow_download: bool = True,
           reporter: events.Reporter = events.QUIET, api=None) -> list[ReleaseFile]:
    """Every module file of Device OS ``version`` for ``platform``, checked (user parts left out);
    a download is told to ``reporter`` as steps."""
    pin = pinned(version, platform.name)
    folders = [_Folder(p) for p in from_paths(paths)]
    files: list[ReleaseFile] = []
    missing: list[str] = []
    if pin is not None:
        for entry in pin.modules:
            found = _local(entry.file, version, platform, folders, pin=entry)
            if found is None:
                missing.append(entry.file)
            else:
                files.append(found)
        if not missing:
            return files
    else:
        names = sorted({n for f in folders for n in f.matching(platform, version)})
        for name in names:
            files.append(_local(name, version, platform, folders, pin=None))
        if files:
            return files
    if not allow_download:
        raise _not_available(platform, version, missing, "downloading is off")
    downloaded = _download_release(platform, version, pin, missing, reporter, api)
    return files + downloaded


def _local(name, version, platform, folders, *, pin) -> Optional[ReleaseFile]:
    cached = _cache_path(version, platform, name)
    if cached.is_file():
        data = cached.read_bytes()
        try:
            return ReleaseFile(name, data, check_file(name, data, platform, pin=pin, origin=str(cached)), "cache")
        except ParticlePyError:
            cached.unlink()             # a damaged cache entry is fetched again, never flashed
    for folder in folders:
        data = folder.read(name)
        if data is not None:
            origin = os.path.join(folder.path, name)
            return ReleaseFile(name, data, check_file(name, data, platform, pin=pin, origin=origin), origin)
    return None


def _not_available(platform: Platform, version: str, missing, why: str) -> ParticlePyError:
    names = f" ({', '.join(missing)})" if missing else ""
    return ParticlePyError(
        f"Device OS {version} for {platform.display_name} is not available here{names}: {why}",
        "Nothing was written to the device. Log in (particle login) so particle-py can download it, or give "
        "the files: particle update --from <folder or .zip holding them>.", EX_NO_RELEASE)


def device_os_info(api, platform: Platform, version: str) -> dict:
    """GET /v1/device-os/versions/<v>?platform_id=<id>: {version, base_url, modules: [...]}."""
    from particle_py.cloud.errors import ApiError

    try:
        return api.request("GET", f"/v1/device-os/versions/{version}?platform_id={platform.platform_id}")
    except ApiError as err:
        if getattr(err, "status", 0) == 404:
            raise ParticlePyError(f"Device OS version not found for platform: {platform.platform_id} "
                                  f"version: {version}",
                                  "Nothing was written to the device. Check the version "
                                  "(particle-py knows: " + ", ".join(_known(platform)) + ").", EX_NO_RELEASE) from None
        raise


def _known(platform: Platform) -> list[str]:
    from particle_py.firmware.releases import versions_for

    return versions_for(platform.name) or ["none pinned"]


def _download_release(platform, version, pin: Optional[PinnedRelease], missing, reporter: events.Reporter,
                      api) -> list[ReleaseFile]:
    from particle_py.cloud.api import client_from_config
    from particle_py.cloud.errors import ApiError

    try:
        api = api or client_from_config()
        info = device_os_info(api, platform, version)
    except ApiError as err:
        raise _not_available(platform, version, missing, err.message) from None
    base = str(info.get("base_url") or "").rstrip("/")
    listed = [m for m in info.get("modules") or [] if isinstance(m, dict) and m.get("filename")]
    from particle_py.cloud.urls import download_problem

    if not listed:
        raise _not_available(platform, version, missing, "the cloud's answer names no files to download")
    if download_problem(base):
        raise _not_available(platform, version, missing, f"the cloud's answer names a download address particle-py "
                                                         f"does not fetch from ({download_problem(base)})")
    wanted = set(missing) if pin is not None else None
    out = []
    reporter.step(f"Downloading Device OS {version}")
    for entry in listed:
        name = os.path.basename(str(entry["filename"]))
        prefix_info = entry.get("prefixInfo") or {}
        if wanted is not None and name not in wanted:
            continue
        if wanted is None and str(prefix_info.get("moduleFunction", "")).lower() in ("user_part", "5"):
            continue                       # particle-cli drops user parts from an update
        pin_entry = next((m for m in pin.modules if m.file == name), None) if pin else None
        crc = _crc_of(entry.get("crc"))
        data = _get(f"{base}/{name}")
        module = check_file(name, data, platform, pin=pin_entry, crc=crc, origin="downloaded")
        if module.prefix.function == ModuleFunction.USER_PART:
            continue
        target = _cache_path(version, platform, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        out.append(ReleaseFile(name, data, module, "download"))
    if wanted is not None and {f.name for f in out} != wanted:
        raise _not_available(platform, version, sorted(wanted - {f.name for f in out}),
                             "the cloud's release does not list them")
    reporter.step(f"Downloaded Device OS {version}")
    return out


def _crc_of(value) -> Optional[int]:
    if isinstance(value, dict):
        value = value.get("storedCrc") or value.get("crc")
    if isinstance(value, int):
        return value & 0xFFFFFFFF
    if isinstance(value, str):
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None


def _get(url: str) -> bytes:
    import urllib.error
    import urllib.request

    from particle_py import __version__

    req = urllib.request.Request(url, headers={"User-Agent": f"particle-py/{__version__}"})
    try:
        # The default opener verifies TLS certificates and honours the *_proxy env vars.
        from particle_py.cloud import urls

        # the download rule: the URL and every redirect keep to https (or loopback) and one server
        with urls.urlopen(req, DOWNLOAD_TIMEOUT_S, "Nothing was written to the device. Give the files with "
                          "--from, or try again on another network.", EX_NO_RELEASE) as resp:
            data = resp.read(MAX_MODULE_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ParticlePyError(f"Could not download {url}: {reason}",
                              "Nothing was written to the device. Check the connection (or give the files with "
                              "--from), then run the command again.", EX_NO_RELEASE) from None
    if len(data) > MAX_MODULE_BYTES:
        raise ParticlePyError(f"{url} is larger than any Device OS module", "Nothing was written to the device.",
                              EX_DATAERR)
    return data
