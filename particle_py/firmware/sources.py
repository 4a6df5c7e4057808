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
import re
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


def _Folder(path: str):
    """A folder or a zip the user named (firmware.user_files: regular files only, clean errors)."""
    from particle_py.firmware.user_files import UserFiles

    return UserFiles(path, limit=MAX_MODULE_BYTES)


# --- what a file's name says -------------------------------------------------------------------

# p2-system-part1@5.8.0.bin, argon-bootloader@2.2.0.bin, boron-softdevice@1.4.4.bin,
# p2-prebootloader-mbr@5.8.0.bin (Gen3 and later); system-part1-2.3.1-photon.bin,
# bootloader-0.7.0-photon.bin (Gen2 release pages)
_NEW_NAME = re.compile(r"(?P<platform>[a-z0-9]+)-(?P<kind>[a-z0-9-]+?)@(?P<version>[^@/]+)\.bin", re.IGNORECASE)
_OLD_NAME = re.compile(r"(?P<kind>system-part\d+|bootloader|softdevice|radio-stack)-"
                       r"(?P<version>\d[^-]*(?:-(?:rc|alpha|beta)[^-]*)?)-(?P<platform>[a-z0-9]+)\.bin",
                       re.IGNORECASE)


@dataclass(frozen=True)
class NameSays:
    platform: Optional[str] = None
    function: Optional[int] = None      # None: the name says no module kind we know
    index: Optional[int] = None
    version: Optional[str] = None


def _kind(kind: str) -> tuple:
    kind = kind.lower()
    m = re.fullmatch(r"system-part(\d+)", kind)
    if m:
        return ModuleFunction.SYSTEM_PART, int(m.group(1))
    if kind.endswith("bootloader") or kind.startswith("prebootloader"):
        return ModuleFunction.BOOTLOADER, None
    if kind in ("softdevice", "radio-stack"):
        return ModuleFunction.RADIO_STACK, None
    return None, None


def name_says(name: str) -> NameSays:
    """The platform, module and Device OS version a release file's name claims (None: says nothing)."""
    m = _NEW_NAME.fullmatch(name) or _OLD_NAME.fullmatch(name)
    if m is None:
        return NameSays()
    function, index = _kind(m.group("kind"))
    # electron-bootloader@2.2.0+lto.bin: build metadata is no part of the version
    return NameSays(m.group("platform").lower(), function, index, m.group("version").split("+")[0])


def system_part_versions(version: str) -> Optional[range]:
    """The module versions a Device OS release's system parts can carry: major*1000 + minor*100
    + patch, counted up by its release candidates (1.4.4 is 1406, 2.3.1 is 2302, 5.0.0 is 5002);
    None for 0.x, whose numbering had no rule."""
    from particle_py.firmware.releases import is_version

    if not is_version(version):
        return None
    major, minor, patch = (int(x) for x in version.split("-")[0].split("."))
    if major == 0 or minor > 9 or patch > 99:
        return None
    base = major * 1000 + minor * 100
    return range(base + patch, base + 100)


def _device_os_of(module_version: int) -> str:
    if module_version < 1000:
        return f"module version {module_version}"
    return f"module version {module_version}, Device OS {module_version // 1000}.{module_version // 100 % 10}.x"


def local_versions(platform: Platform, paths: Iterable[str] = ()) -> list[str]:
    """Device OS versions whose files for ``platform`` are at hand without a download (the cache,
    the folders given or in PARTICLE_PY_DEVICE_OS_FROM; names as Particle's: p2-system-part1@5.8.0.bin),
    oldest first. For platforms with no pinned release (the P2), where the doctor looks."""
    from particle_py.firmware.releases import is_version, version_key

    bundles = bundles_in(paths)
    found = {b.version for b in bundles if b.platform_id == platform.platform_id}
    cached = cache_dir()
    if cached.is_dir():
        found.update(v.name for v in cached.iterdir() if (v / platform.name).is_dir() and any((v / platform.name).iterdir()))
    prefix = f"{platform.name}-system-part"
    for path in from_paths(paths):
        if path in {b.origin for b in bundles}:
            continue
        for name in _Folder(path).names:
            if name.startswith(prefix) and "@" in name and name.endswith(".bin"):
                found.add(name[name.rindex("@") + 1:-len(".bin")])
    return sorted((v for v in found if is_version(v)), key=version_key)


_FUNCTION_WORDS = {ModuleFunction.SYSTEM_PART: "a system part", ModuleFunction.BOOTLOADER: "a bootloader",
                   ModuleFunction.RADIO_STACK: "a radio stack", ModuleFunction.USER_PART: "a user application",
                   ModuleFunction.MONO_FIRMWARE: "a monolithic firmware"}
# What `update` writes: Device OS's own modules, never an app.
DEVICE_OS_FUNCTIONS = (ModuleFunction.BOOTLOADER, ModuleFunction.SYSTEM_PART, ModuleFunction.RADIO_STACK)


def _what(function: int, index: Optional[int] = None) -> str:
    word = _FUNCTION_WORDS.get(function, f"a module of function {function}")
    return f"system part {index}" if function == ModuleFunction.SYSTEM_PART and index else word


def check_file(name: str, data: bytes, platform: Platform, *, pin=None, crc: Optional[int] = None,
               origin: str = "") -> FirmwareModule:
    """The parsed module, or ParticlePyError saying what is wrong with this file."""
    where = f" ({origin})" if origin else ""
    hint = ("Nothing was written to the device. Download the file again, or remove it from particle-py's "
            f"cache ({cache_dir()}) and run the command again.")
    if len(data) > MAX_MODULE_BYTES:
        raise ParticlePyError(f"{name}{where} is larger than any Device OS module", hint, EX_DATAERR)
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


def check_release_file(name: str, module: FirmwareModule, platform: Platform, version: str,
                       origin: str = "") -> None:
    """The release-file rule: a file `update` writes is Device OS (not an app), is what its name
    says (module, Device OS version), for ``version``, and starts at the slot its function owns."""
    where = f" ({origin})" if origin else ""
    p = module.prefix
    said = name_says(name)
    hint = ("Nothing was written to the device. Give the files Particle published for Device OS "
            f"{version} (particle update --target {version} --from <folder or .zip>).")
    if p.function not in DEVICE_OS_FUNCTIONS:
        raise ParticlePyError(f"{name}{where} is {_what(p.function)} (its module header), not part of Device OS",
                              hint, EX_DATAERR)
    # (the function only: Particle's names number the Electron's system parts otherwise than its headers)
    if said.function is not None and said.function != p.function:
        raise ParticlePyError(f"{name}{where} is named as {_what(said.function)} but its header says "
                              f"{_what(p.function, p.index)}", hint, EX_DATAERR)
    if said.version is not None and said.version != version:
        raise ParticlePyError(f"{name}{where} is named for Device OS {said.version}, not {version}", hint,
                              EX_DATAERR)
    allowed = system_part_versions(version)
    if p.function == ModuleFunction.SYSTEM_PART and allowed is not None and p.version not in allowed:
        raise ParticlePyError(f"{name}{where} is not Device OS {version}: its header says "
                              f"{_device_os_of(p.version)}", hint, EX_DATAERR)
    slot = _slot(platform, p.function, p.index)
    if slot is not None and p.start != slot:
        raise ParticlePyError(f"{name}{where} is {_what(p.function, p.index)} linked at 0x{p.start:08x}; "
                              f"{platform.display_name} keeps it at 0x{slot:08x}", hint, EX_DATAERR)
    if slot is None and p.function == ModuleFunction.SYSTEM_PART:
        raise ParticlePyError(f"{name}{where} is system part {p.index}; {platform.display_name} has "
                              f"{len(platform.system_parts)} system part(s)", hint, EX_DATAERR)


def _slot(platform: Platform, function: int, index: int) -> Optional[int]:
    if function == ModuleFunction.SYSTEM_PART:
        return platform.system_parts[index - 1] if 1 <= index <= len(platform.system_parts) else None
    if function == ModuleFunction.BOOTLOADER:
        return platform.bootloader if index == 0 else None      # (P2's prebootloaders: no slot in the table)
    if function == ModuleFunction.RADIO_STACK:
        return platform.radio_stack
    return None


def check_release(files: list, platform: Platform, version: str) -> list:
    """The whole release: every file by the rule above, and every system part of the platform
    there once, all of one module version."""
    for f in files:
        check_release_file(f.name, f.module, platform, version, f.origin)
    parts = {}
    for f in files:
        p = f.module.prefix
        if p.function == ModuleFunction.SYSTEM_PART:
            other = parts.setdefault(p.index, f)
            if other is not f and other.data != f.data:
                raise ParticlePyError(f"Two files are system part {p.index} of Device OS {version}: {other.name} "
                                      f"({other.origin}) and {f.name} ({f.origin})",
                                      "Nothing was written to the device. Keep one of them, then run the command again.", EX_DATAERR)
    missing = [i for i in range(1, len(platform.system_parts) + 1) if i not in parts]
    if platform.system_parts and missing:
        raise ParticlePyError(f"Device OS {version} for {platform.display_name} is incomplete here: no "
                              + ", ".join(f"system part {i}" for i in missing),
                              "Nothing was written to the device. Give every file of the release "
                              "(particle update --from <folder or .zip holding them>).", EX_NO_RELEASE)
    numbers = {f.module.prefix.version for f in parts.values()}
    if len(numbers) > 1:
        raise ParticlePyError(f"The system parts given for Device OS {version} are of different versions "
                              f"({', '.join(str(n) for n in sorted(numbers))})",
                              "Nothing was written to the device. Give the files of one release.", EX_DATAERR)
    _check_parts_start_together(parts, platform, version)
    seen, out = set(), []
    for f in files:                       # one file per module, in the order found
        p = f.module.prefix
        key = (p.function, p.index)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _check_parts_start_together(parts: dict, platform: Platform, version: str) -> None:
    """The release's system parts must meet each other's dependencies, or no Device OS starts
    once they are written (the bootloader stays in DFU mode, blinking yellow): refused before the
    device is touched. Dependencies on the bootloader or radio stack are Device OS's to check
    after the boot (they lead to safe mode, not to a device that stops)."""
    from particle_py.firmware import checks

    held = [checks.Held.of(f.module.prefix, f.name) for f in parts.values()]
    after = checks.outcome(held, len(platform.system_parts))
    if after.mode == "dfu" and after.unmet is not None:
        raise ParticlePyError(f"Device OS {version} for {platform.display_name} would not start from these files: "
                              f"{after.unmet.words()}",
                              "Nothing was written to the device. Give the files of one release, as Particle "
                              "publishes them (particle update --from <folder or .zip>), or run the command "
                              "without --from to download them.", EX_DATAERR)


def obtain(platform: Platform, version: str, *, paths: Iterable[str] = (), allow_download: bool = True,
           reporter: events.Reporter = events.QUIET, api=None) -> list[ReleaseFile]:
    """Every module file of Device OS ``version`` for ``platform``, checked by the release-file
    rule: the files the user named first, then the cache, then a download (told to ``reporter``).
    A restore bundle among the paths is the whole source: its release or a refusal."""
    bundled = _from_bundle(platform, version, paths)
    if bundled is not None:
        return check_release(bundled, platform, version)
    pin = pinned(version, platform.name)
    folders = [_Folder(p) for p in from_paths(paths)]
    files: list[ReleaseFile] = []
    missing: list[str] = []
    if pin is not None:
        for entry in pin.modules:
            found = _given(entry, version, platform, folders) or _cached(entry.file, version, platform, pin=entry)
            if found is None:
                missing.append(entry.file)
            else:
                files.append(found)
        if not missing:
            return check_release(files, platform, version)
    else:
        files = _unpinned(folders, platform, version)
        if not files:
            files = _unpinned_cached(platform, version)
        if files:
            return check_release(files, platform, version)
    if not allow_download:
        raise _not_available(platform, version, missing, "downloading is off", no_download=True)
    downloaded = _download_release(platform, version, pin, missing, reporter, api)
    return check_release(files + downloaded, platform, version)


def bundles_in(paths: Iterable[str] = ()) -> list:
    """The restore bundles (firmware.bundle) among the --from paths, read and checked whole."""
    from particle_py.firmware import bundle

    return [bundle.read(p) for p in from_paths(paths) if bundle.looks_like_bundle(p)]


def _from_bundle(platform: Platform, version: str, paths) -> Optional[list[ReleaseFile]]:
    """The release from a restore bundle among the paths (None: there is none). A bundle for
    another platform or version, or one whose files are not the published ones, is refused."""
    from particle_py.firmware import bundle

    found = bundles_in(paths)
    if not found:
        return None
    mine = [b for b in found if b.platform_id == platform.platform_id] or found
    chosen = next((b for b in mine if b.version == version), mine[0])
    bundle.check_for(chosen, platform, version)
    pin = pinned(version, platform.name)
    files = []
    for f in chosen.device_os_files:
        entry = next((m for m in pin.modules if m.file == f.name), None) if pin is not None else None
        module = check_file(f.name, f.data, platform, pin=entry, origin=chosen.origin)
        files.append(ReleaseFile(f.name, f.data, module, chosen.origin))
    if pin is not None:
        missing = [m.file for m in pin.modules if m.file not in {f.name for f in files}]
        if missing:
            raise ParticlePyError(f"{chosen.origin} lacks {', '.join(missing)} of Device OS {version} for "
                                  f"{platform.display_name}",
                                  "Nothing was written to the device. Save the bundle again (particle update "
                                  "--save-bundle FILE).", EX_DATAERR)
    return files


def _given(entry, version, platform, folders) -> Optional[ReleaseFile]:
    """A pinned file from the folders the user named: by its name, else by its bytes (any name)."""
    for folder in folders:
        data = folder.read(entry.file)
        if data is not None:
            origin = folder.origin(entry.file)
            return ReleaseFile(entry.file, data, check_file(entry.file, data, platform, pin=entry, origin=origin),
                               origin)
    for folder in folders:
        for name in sorted(folder.names):
            if not name.lower().endswith(".bin") or folder.size(name) != entry.size:
                continue
            data = folder.read(name)
            if data is not None and hashlib.sha256(data).hexdigest() == entry.sha256:
                origin = folder.origin(name)
                return ReleaseFile(entry.file, data, check_file(entry.file, data, platform, pin=entry,
                                                                origin=origin), origin)
    return None


def _cached(name, version, platform, *, pin) -> Optional[ReleaseFile]:
    """A cached file, kept only while its header agrees with its name and its pin."""
    from particle_py.firmware.user_files import read_regular

    cached = _cache_path(version, platform, name)
    if not cached.is_file():
        return None
    try:
        data = read_regular(str(cached), MAX_MODULE_BYTES)
        module = check_file(name, data, platform, pin=pin, origin=str(cached))
        check_release_file(name, module, platform, version, str(cached))
        return ReleaseFile(name, data, module, "cache")
    except ParticlePyError:
        try:
            cached.unlink()             # a damaged cache entry is fetched again, never flashed
        except OSError:
            pass
        return None


def _unpinned(folders, platform, version) -> list[ReleaseFile]:
    """The files of an unpinned release found in the folders by content: a .bin whose header is
    this platform's Device OS, whose name (if it says one) is this release. A file named for this
    release must pass; any other is left out. The first folder that holds a module wins."""
    found: dict = {}
    for folder in folders:
        here: dict = {}
        for name in sorted(folder.names):
            if not name.lower().endswith(".bin"):
                continue
            said = name_says(name)
            if said.platform not in (None, platform.name) and said.version is not None:
                continue
            if said.version is not None and said.version != version:
                continue                # another release by its name (5.9.0-rc.1, 5.9.01)
            named = said.version == version
            data = folder.read(name)
            if data is None:
                continue
            origin = folder.origin(name)
            if named:
                module = check_file(name, data, platform, origin=origin)
                if said.function is None and module.prefix.function not in DEVICE_OS_FUNCTIONS:
                    continue            # p2-tinker@5.8.0.bin: Particle's release holds the app too; an update leaves it
                check_release_file(name, module, platform, version, origin)
            else:
                module = parse(data)
                p = module.prefix
                allowed = system_part_versions(version)
                if (p is None or not module.crc_ok or p.platform_id != platform.platform_id
                        or p.function != ModuleFunction.SYSTEM_PART or allowed is None or p.version not in allowed):
                    continue            # unnamed files are taken only for what their header proves
            key = (module.prefix.function, module.prefix.index)
            other = here.get(key)
            if other is not None and other.data != data:
                raise ParticlePyError(f"Two files are {_what(*key)} of Device OS {version} in --from "
                                      f"{folder.path}: {other.name} and {name}",
                                      "Nothing was written to the device. Keep one of them, then run the command again.", EX_DATAERR)
            here.setdefault(key, ReleaseFile(name, data, module, origin))
        for key, f in here.items():
            found.setdefault(key, f)
    return [found[k] for k in sorted(found)]


def _unpinned_cached(platform, version) -> list[ReleaseFile]:
    folder = cache_dir() / version / platform.name
    if not folder.is_dir():
        return []
    try:
        return _unpinned([_Folder(str(folder))], platform, version)
    except ParticlePyError:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)   # a cache that fails the rule is fetched again
        return []


def releases_in(platform: Platform, paths: Iterable[str]) -> list[str]:
    """The Device OS versions whose system parts for ``platform`` the folders hold (by a name that
    says the version, or by the bytes of a pinned file), for an update with no --target."""
    from particle_py.firmware.releases import versions_for

    bundles = bundles_in(paths)
    if bundles:           # a bundle names its release (one for another platform is refused later)
        return sorted({b.version for b in bundles if b.platform_id == platform.platform_id}
                      or {b.version for b in bundles})
    by_sha = {}
    for v in versions_for(platform.name):
        for m in pinned(v, platform.name).modules:
            if m.function == ModuleFunction.SYSTEM_PART:
                by_sha[m.sha256] = v
    found = set()
    for path in from_paths(paths):
        folder = _Folder(path)
        for name in sorted(folder.names):
            if not name.lower().endswith(".bin"):
                continue
            said = name_says(name)
            if said.platform not in (None, platform.name) or said.function not in (None, ModuleFunction.SYSTEM_PART):
                continue
            data = folder.read(name)
            module = parse(data or b"")
            p = module.prefix
            if p is None or not module.crc_ok or p.platform_id != platform.platform_id \
                    or p.function != ModuleFunction.SYSTEM_PART:
                continue
            version = said.version or by_sha.get(hashlib.sha256(data).hexdigest())
            if version is not None:
                found.add(version)
    return sorted(found)


def _not_available(platform: Platform, version: str, missing, why: str, *,
                   no_download: bool = False) -> ParticlePyError:
    names = f" ({', '.join(missing)})" if missing else ""
    if no_download:
        hint = ("Nothing was written to the device. Run the command without --no-download to download it, or "
                "give the files: particle update --from <folder or .zip holding them>.")
    elif "log in" in why.lower() or "not logged in" in why.lower() or "token" in why.lower():
        hint = ("Nothing was written to the device. Log in (particle login) so particle-py can download it, or "
                "give the files: particle update --from <folder or .zip holding them>.")
    else:
        hint = ("Nothing was written to the device. Give the files: particle update --from <folder or .zip "
                "holding them>, or run the command again later.")
    return ParticlePyError(
        f"Device OS {version} for {platform.display_name} is not available here{names}: {why}", hint, EX_NO_RELEASE)


def device_os_info(api, platform: Platform, version: str) -> dict:
    """GET /v1/device-os/versions/<v>?platform_id=<id>: {version, base_url, modules: [...]}."""
    from particle_py.cloud.errors import ApiError

    try:
        return api.request("GET", f"/v1/device-os/versions/{version}?platform_id={platform.platform_id}")
    except ApiError as err:
        if getattr(err, "status", 0) == 404:
            others = [v for v in _known(platform) if v != version]
            if pinned(version, platform.name) is not None:
                hint = (f"particle-py knows Device OS {version}'s files for {platform.display_name} but has not got "
                        f"them, and Particle's server does not list it. Nothing was written to the device. Give the "
                        f"files: particle update --target {version} --from <folder or .zip holding them>.")
            else:
                hint = ("Nothing was written to the device. Check the version"
                        + (f" (particle-py also knows: {', '.join(others)})." if others else "."))
            raise ParticlePyError(f"Device OS version not found for platform: {platform.platform_id} "
                                  f"version: {version}", hint, EX_NO_RELEASE) from None
        raise


def _known(platform: Platform) -> list[str]:
    from particle_py.firmware.releases import versions_for

    return versions_for(platform.name)


# A download's file name: a plain name, no folder, no dot file (`..`, `x/` are refused).
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,200}")


def _listed_modules(info) -> Optional[list]:
    if not isinstance(info, dict):
        return None
    modules = info.get("modules")
    if not isinstance(modules, list):
        return None
    return [m for m in modules if isinstance(m, dict) and isinstance(m.get("filename"), str)]


def _download_release(platform, version, pin: Optional[PinnedRelease], missing, reporter: events.Reporter,
                      api) -> list[ReleaseFile]:
    from particle_py.cloud.api import client_from_config
    from particle_py.cloud.errors import ApiError

    try:
        api = api or client_from_config()
        info = device_os_info(api, platform, version)
    except ApiError as err:
        raise _not_available(platform, version, missing, err.message) from None
    from particle_py.cloud.urls import download_problem

    raw_base = info.get("base_url") if isinstance(info, dict) else None
    base = raw_base.rstrip("/") if isinstance(raw_base, str) else ""
    listed = _listed_modules(info)
    if not base or not listed:
        raise _not_available(platform, version, missing, "the cloud's answer names no files to download")
    problem = download_problem(base)
    if problem:
        raise _not_available(platform, version, missing, "the cloud's answer names a download address particle-py "
                                                         f"does not fetch from ({problem})")
    for entry in listed:
        if not _FILE_NAME.fullmatch(entry["filename"]) or ".." in entry["filename"]:
            raise _not_available(platform, version, missing,
                                 f"the cloud's answer names a file {entry['filename']!r}, which is not a file name")
    wanted = set(missing) if pin is not None else None
    out = []
    reporter.step(f"Downloading Device OS {version}")
    for entry in listed:
        name = entry["filename"]
        prefix_info = entry.get("prefixInfo") if isinstance(entry.get("prefixInfo"), dict) else {}
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
        check_release_file(name, module, platform, version, "downloaded")
        folder = cache_dir() / version / platform.name
        target = folder / name
        if target.parent != folder:
            raise _not_available(platform, version, missing, f"the cloud's answer names a file {name!r}")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (name + ".part")
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
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value & 0xFFFFFFFF
    if isinstance(value, str):
        try:
            return int(value, 16) & 0xFFFFFFFF
        except ValueError:
            return None
    return None


def _get(url: str) -> bytes:
    import http.client
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
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        # a refused connection, a status line that is not HTTP, a header line over 64 KiB, a bad URL
        reason = getattr(exc, "reason", None) or exc.__class__.__name__ + (f": {exc}" if str(exc) else "")
        raise ParticlePyError(f"Could not download {url}: {str(reason)[:200]}",
                              "Nothing was written to the device. Check the connection (or give the files with "
                              "--from), then run the command again.", EX_NO_RELEASE) from None
    if len(data) > MAX_MODULE_BYTES:
        raise ParticlePyError(f"{url} is larger than any Device OS module", "Nothing was written to the device.",
                              EX_DATAERR)
    return data
