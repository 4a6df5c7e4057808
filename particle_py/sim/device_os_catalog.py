"""The Device OS releases the simulated cloud names (``/v1/device-os/versions``) and serves.

Each pinned release (release_table.py, generated data) for its platforms, its files read from
particle-cli's npm packages in the peer cache as the simulated devices' own Device OS is.
A platform with no pinned release (P2, M-SoM, Tracker-M: Particle's npm packages never
bundled rtl872x Device OS) gets one stand-in release, so `update` with no version has a
"latest" to take: seeded system parts built like the simulator's own (contents.device_os).

Reply shapes follow particle-api-js (``listDeviceOsVersions``: a list of ``{version,
platform_id, module_version}``; ``getDeviceOsVersion``: ``{version, base_url, modules:
[{filename, prefixInfo, crc}]}``, what particle-cli 3.51's device-os-version-util reads).

Stdlib only (the simulator's rule).
"""
from __future__ import annotations

import zlib
from typing import Optional

# The stand-in release per platform that pins none: Device OS 6.3.4 is the one particle-cli
# 3.47+ bundles Tinker for on M-SoM (its assets/knownApps).
STAND_IN_RELEASES = {"p2": "6.3.4", "msom": "6.3.4", "trackerm": "6.3.4"}
FUNCTION_KEYS = {"bootloader": "bootloader", "system part": "system_part", "user part": "user_part",
                 "radio stack": "radio_stack", "monolithic firmware": "monolithic", "ncp firmware": "ncp_firmware"}
FUNCTION_BY_NUMBER = {2: "bootloader", 4: "system_part", 5: "user_part", 8: "radio_stack", 3: "monolithic"}


def _version_key(version: str) -> tuple:
    core, _, pre = version.partition("-")
    return tuple(int(p) if p.isdigit() else -1 for p in core.split(".")) + ((1,) if not pre else (0, pre))


def _platform(platform_id: int):
    from particle_py.platforms import PLATFORMS

    return next((p for p in PLATFORMS if p.platform_id == platform_id), None)


def releases_for(platform_id: int) -> list[str]:
    """Versions the cloud names for the platform, oldest first."""
    from particle_py.release_table import RELEASES

    platform = _platform(platform_id)
    if platform is None:
        return []
    found = [v for v, plats in RELEASES.items() if platform.name in plats]
    if not found and platform.name in STAND_IN_RELEASES:
        found = [STAND_IN_RELEASES[platform.name]]
    return sorted(found, key=_version_key)


def latest(platform_id: int) -> Optional[str]:
    """The newest release that is not a pre-release, as the cloud's ``latest`` is."""
    final = [v for v in releases_for(platform_id) if "-" not in v]
    return final[-1] if final else None


def system_module_version(platform_id: int, version: str) -> Optional[int]:
    """The module version the release's system parts carry (the cloud's ``internal_version``)."""
    from particle_py.release_table import RELEASES
    from particle_py.sim import contents

    platform = _platform(platform_id)
    entry = RELEASES.get(version, {}).get(platform.name) if platform else None
    if entry is None:
        return contents.module_version(version) if platform and version in releases_for(platform_id) else None
    found = [m["module_version"] for m in entry["modules"] if m["function"] == "system part"]
    return found[0] if found else None


def by_internal_version(platform_id: int, number: int) -> Optional[str]:
    """The release whose system parts carry module version ``number`` (particle-cli 3.51's
    ``flash --local`` asks /v1/device-os/versions/<an app's dependency> with it)."""
    found = [v for v in releases_for(platform_id) if system_module_version(platform_id, v) == number]
    return found[-1] if found else None


def listing(platform_id: Optional[int]) -> list[dict]:
    from particle_py.platforms import PLATFORMS

    ids = [platform_id] if platform_id is not None else sorted({p.platform_id for p in PLATFORMS})
    out = []
    for pid in ids:
        for version in reversed(releases_for(pid)):
            out.append({"version": version, "platform_id": pid,
                        "module_version": system_module_version(pid, version)})
    return out


def files(platform_id: int, version: str) -> Optional[list[tuple[str, str, Optional[bytes]]]]:
    """[(file name, function key, bytes or None when the peer cache lacks it)], or None when
    the cloud has no such release for the platform."""
    from particle_py.release_table import RELEASES
    from particle_py.sim import contents

    platform = _platform(platform_id)
    if platform is None or version not in releases_for(platform_id):
        return None
    entry = RELEASES.get(version, {}).get(platform.name)
    if entry is not None:
        return [(m["file"], FUNCTION_KEYS.get(m["function"], m["function"]),
                 contents._peer_file(m["file"], m["sha256"])) for m in entry["modules"]]
    names = contents.release_file_names(platform, version)
    return [(name, "system_part", module) for name, (_address, module)
            in zip(names, contents.device_os(platform, version, part_size=64 * 1024))]


def release_reply(platform_id: int, version: str, base_url: str) -> Optional[dict]:
    """The per-version answer, or None (404) when the cloud has no such release."""
    if version == "latest":
        version = latest(platform_id) or ""
    elif version.isdigit():
        version = by_internal_version(platform_id, int(version)) or ""
    found = files(platform_id, version)
    if found is None:
        return None
    modules = []
    for name, function, data in found:
        crc = f"{zlib.crc32(data[:-4]) & 0xFFFFFFFF:08x}" if data else None
        modules.append({"filename": name, "prefixInfo": {"moduleFunction": function, "platformID": platform_id},
                        "crc": {"storedCrc": crc, "actualCrc": crc}})
    return {"version": version, "platform_id": platform_id,
            "internal_version": system_module_version(platform_id, version), "base_url": f"{base_url}/v{version}",
            "modules": modules}


def file_bytes(version: str, name: str) -> Optional[bytes]:
    """A release file by name (any platform that has the version)."""
    from particle_py.platforms import PLATFORMS

    for platform in PLATFORMS:
        for file_name, _function, data in files(platform.platform_id, version) or ():
            if file_name == name:
                return data
    return None
