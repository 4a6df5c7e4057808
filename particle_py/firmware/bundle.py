"""The offline restore bundle: one zip with everything a platform's restore needs.

`particle update --save-bundle FILE` writes it on a computer that can get the files; `particle
update --from FILE` and `particle doctor --from FILE` restore from it where there is no network.
It holds the Device OS modules of one release for one platform (bootloader, radio stack where
the platform has one, every system part), the platform's Tinker, and ``MANIFEST`` (below) with
each file's role, size and SHA-256. An encrypted bootloader part (rtl872x prebootloader part 1)
is never put in: no tool writes it.

A bundle is outside input: ``parse`` takes its bytes and either returns every file, checked
against the manifest, or raises ParticlePyError saying what is wrong (truncated, not a bundle,
a file whose bytes differ from the manifest). Whether it is for the device at hand is
``check_for``'s question; both are asked before a device is touched.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from typing import Optional

from particle_py.errors import EX_DATAERR, ParticlePyError

MANIFEST = "particle-py-bundle.json"
FORMAT = "particle-py restore bundle"
FORMAT_VERSION = 1
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = 8 * 1024 * 1024          # sources.MAX_MODULE_BYTES: no module is larger
MAX_FILES = 32
MAX_MANIFEST_BYTES = 64 * 1024
ROLE_TINKER = "tinker"
# bootloader (N: rtl872x's bootloader parts), radio stack, system part N, ncp, tinker
_ROLE = re.compile(r"bootloader(?: [1-9])?|radio stack|system part [1-9]|ncp|tinker")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,200}")
_VERSION = re.compile(r"\d+\.\d+\.\d+(?:-[A-Za-z0-9.]+)?")
EX_WRONG_BUNDLE = 1


@dataclass(frozen=True)
class BundleFile:
    name: str
    role: str
    sha256: str
    data: bytes


@dataclass(frozen=True)
class Bundle:
    platform: str                 # platforms.Platform.name
    platform_id: int
    version: str                  # Device OS
    files: tuple[BundleFile, ...]
    origin: str = ""              # the path it was read from

    @property
    def device_os_files(self) -> tuple[BundleFile, ...]:
        return tuple(f for f in self.files if f.role != ROLE_TINKER)

    @property
    def tinker(self) -> Optional[BundleFile]:
        return next((f for f in self.files if f.role == ROLE_TINKER), None)


def _bad(origin: str, why: str) -> ParticlePyError:
    return ParticlePyError(f"{origin or 'The bundle'} is not a usable restore bundle: {why}",
                           "Nothing was written to the device. Save the bundle again (particle update "
                           "--save-bundle FILE) and copy it whole.", EX_DATAERR)


def looks_like_bundle(path: str) -> bool:
    """Whether ``path`` is a restore bundle: a zip whose first member is the manifest (``build``
    writes it first, so even a cut copy is known, and refused as a bundle, not read as a plain
    --from zip). Only a regular file is opened: a FIFO or a device would wait for a writer."""
    if not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(30 + len(MANIFEST))
    except OSError:
        return False
    return head[:4] == b"PK\x03\x04" and head[30:] == MANIFEST.encode()


def read(path: str) -> Bundle:
    """The bundle at ``path`` (ParticlePyError if it cannot be read or is damaged)."""
    try:
        size = os.path.getsize(path)
        if size > MAX_BUNDLE_BYTES:
            raise _bad(path, f"it is {size} bytes, more than any restore needs")
        with open(path, "rb") as f:
            data = f.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise ParticlePyError(f"Could not read {path}: {exc.strerror or exc}",
                              "Nothing was written to the device. Check the path.", EX_DATAERR) from None
    return parse(data, path)


def parse(data: bytes, origin: str = "") -> Bundle:
    """Every file of a bundle, each checked against the manifest; ParticlePyError otherwise."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise _bad(origin, "it is larger than any restore needs")
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
    except Exception:              # zipfile raises many kinds on a cut or changed archive
        raise _bad(origin, "it is truncated or damaged (not a complete zip file)") from None
    with z:
        members = {i.filename: i for i in infos}
        if len(infos) > MAX_FILES + 1 or len(members) != len(infos):
            raise _bad(origin, "it holds more files than a bundle has")
        if MANIFEST not in members:
            raise _bad(origin, f"it has no {MANIFEST}")
        manifest = _manifest(_member(z, members[MANIFEST], MAX_MANIFEST_BYTES, origin), origin)
        listed = {entry["name"] for entry in manifest["files"]}
        extra = sorted(set(members) - listed - {MANIFEST})
        if extra:
            raise _bad(origin, f"it holds {extra[0]}, which its manifest does not list")
        files = []
        for entry in manifest["files"]:
            info = members.get(entry["name"])
            if info is None:
                raise _bad(origin, f"{entry['name']} is missing (the manifest lists it)")
            if info.file_size != entry["size"]:
                raise _bad(origin, f"{entry['name']} is {info.file_size} bytes; the manifest says {entry['size']}")
            body = _member(z, info, MAX_FILE_BYTES, origin)
            if len(body) != entry["size"]:
                raise _bad(origin, f"{entry['name']} is {len(body)} bytes; the manifest says {entry['size']}")
            if hashlib.sha256(body).hexdigest() != entry["sha256"]:
                raise _bad(origin, f"{entry['name']} does not match its SHA-256 in the manifest")
            files.append(BundleFile(entry["name"], entry["role"], entry["sha256"], body))
    return Bundle(manifest["platform"], manifest["platform_id"], manifest["device_os"], tuple(files), origin)


def _member(z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, origin: str) -> bytes:
    if info.file_size > limit:
        raise _bad(origin, f"{info.filename} is larger than any file of a restore")
    try:
        with z.open(info) as f:
            return f.read(limit + 1)
    except Exception:              # a cut member, a bad CRC, an unknown compression, a password
        raise _bad(origin, f"{info.filename} is truncated or damaged") from None


def _manifest(raw: bytes, origin: str) -> dict:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _bad(origin, f"its {MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _bad(origin, f"its {MANIFEST} is not a restore bundle's manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise _bad(origin, f"it is format {manifest.get('format_version')!r}; this particle-py reads format "
                           f"{FORMAT_VERSION} (a newer particle-py may read it)")
    platform, platform_id, version = manifest.get("platform"), manifest.get("platform_id"), manifest.get("device_os")
    if not (isinstance(platform, str) and re.fullmatch(r"[a-z0-9]{1,32}", platform)
            and isinstance(platform_id, int) and not isinstance(platform_id, bool) and 0 <= platform_id < 0x1000
            and isinstance(version, str) and _VERSION.fullmatch(version)):
        raise _bad(origin, "its manifest names no platform and Device OS version")
    files = manifest.get("files")
    if not isinstance(files, list) or not 0 < len(files) <= MAX_FILES:
        raise _bad(origin, "its manifest lists no files")
    names, roles = set(), set()
    for entry in files:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and _NAME.fullmatch(entry["name"])
                and ".." not in entry["name"] and entry["name"] != MANIFEST
                and isinstance(entry.get("role"), str) and _ROLE.fullmatch(entry["role"])
                and isinstance(entry.get("size"), int) and not isinstance(entry["size"], bool)
                and 0 < entry["size"] <= MAX_FILE_BYTES
                and isinstance(entry.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])):
            raise _bad(origin, "its manifest has an entry that is not a file's name, role, size and SHA-256")
        if entry["name"] in names or entry["role"] in roles:
            raise _bad(origin, f"its manifest lists {entry['name']} ({entry['role']}) twice")
        names.add(entry["name"])
        roles.add(entry["role"])
    return manifest


def check_for(bundle: Bundle, platform, version: Optional[str]) -> None:
    """Refuse a bundle for another platform or another Device OS than the one asked for."""
    where = bundle.origin or "The bundle"
    if bundle.platform_id != platform.platform_id or bundle.platform != platform.name:
        raise ParticlePyError(
            f"{where} is a restore bundle for {bundle.platform} (platform {bundle.platform_id}), not for this "
            f"{platform.display_name} (platform {platform.platform_id})",
            "Nothing was written to the device. Use the bundle saved for this platform (particle update "
            f"--save-bundle FILE --platform {platform.name}).", EX_WRONG_BUNDLE)
    if version is not None and version != bundle.version:
        raise ParticlePyError(
            f"{where} holds Device OS {bundle.version} for {platform.display_name}, not {version}",
            f"Nothing was written to the device. Run without --target to restore {bundle.version}, or save a "
            f"bundle for {version} (particle update --save-bundle FILE --target {version}).", EX_WRONG_BUNDLE)


def build(platform, version: str, files: list[tuple[str, str, bytes]]) -> bytes:
    """The bundle's bytes: ``files`` as (name, role, data), with the manifest first."""
    from particle_py import __version__

    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "platform": platform.name,
                "platform_id": platform.platform_id, "device_os": version,
                "created_by": f"particle-py {__version__}",
                "files": [{"name": n, "role": r, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                          for n, r, d in files]}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        # fixed timestamps: the same files make the same bundle
        z.writestr(zipfile.ZipInfo(MANIFEST, (2020, 1, 1, 0, 0, 0)), json.dumps(manifest, indent=1) + "\n",
                   zipfile.ZIP_DEFLATED)
        for name, _role, data in files:
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def write(path: str, data: bytes) -> None:
    """Write the bundle whole or not at all (a cut copy is never left under the name)."""
    tmp = f"{path}.{os.getpid()}.part"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ParticlePyError(f"Could not write {path}: {exc.strerror or exc}",
                              "Give a path in a folder you can write to.", EX_DATAERR) from None
