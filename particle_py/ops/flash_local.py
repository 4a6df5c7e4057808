"""`particle flash --local <files...>`: local files over USB, with the Device OS they need.

particle-cli 3.51's recipe (src/cmd/flash.js ``_flashLocal``): the files are an app (.bin), a
bundle (.zip of an app and its assets), Device OS modules, or a known app name. When the app
needs a newer Device OS than the device runs, that release goes first; ``--target`` names the
release instead, ``--application-only`` never adds one, and files that are Device OS modules
themselves, or a known app, add none. The device's Device OS is known only in normal mode (3.51
reads it there too); in DFU mode nothing is added, and flash's own check after the reset says
when the app cannot run (safe mode) and how to fix it.

The release comes from the pinned ones, the ``--from`` folders, the cache or Particle's download
(ops/update.py, which writes only what the device lacks and reports an interrupted update with
the command that finishes it); the app then goes by ``particle flash --usb``'s path (ops/flash.py).
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import Optional

from particle_py import events
from particle_py.errors import ParticlePyError
from particle_py.firmware.module import ModuleFunction, parse

EX_FLASH_LOCAL_FAILED = 1
# Device OS modules in the given files: then the files are the Device OS (3.51's rule)
DEVICE_OS_FUNCTIONS = frozenset({ModuleFunction.SYSTEM_PART, ModuleFunction.BOOTLOADER})
MAX_BUNDLE_MEMBERS = 64
MAX_MEMBER_BYTES = 8 * 1024 * 1024


@dataclass
class LocalFlashResult:
    flash: object                          # ops.flash.FlashResult of the files
    update: object = None                  # ops.update.UpdateResult when Device OS went first
    device_os: str = ""                    # the release that went first ("" = none)
    why: str = ""                          # why it did


def _fail(message: str, hint: str) -> ParticlePyError:
    return ParticlePyError(message, hint, EX_FLASH_LOCAL_FAILED)


def unpack_bundles(args: list[str], folder: str) -> list[str]:
    """The args with every bundle (.zip) replaced by its module files, written into ``folder``
    under their own names. A bundle's assets are refused: particle-py cannot send assets yet."""
    out = []
    for arg in args:
        if not (arg.lower().endswith(".zip") and os.path.isfile(arg)):
            out.append(arg)
            continue
        try:
            with zipfile.ZipFile(arg) as bundle:
                members = [m for m in bundle.infolist() if not m.is_dir()]
                if len(members) > MAX_BUNDLE_MEMBERS:
                    raise _fail(f"{arg} holds {len(members)} files, more than a bundle does",
                                "Nothing was written to the device.")
                assets = [m.filename for m in members if not m.filename.lower().endswith(".bin")
                          or "/" in m.filename.strip("/")]
                if assets:
                    raise _fail(f"{arg} holds assets ({', '.join(sorted(assets)[:5])}); particle-py cannot "
                                "send assets to a device yet",
                                "Nothing was written to the device. Flash the app alone: unzip the bundle and run "
                                "particle flash --local <app>.bin (the assets stay as they are on the device).")
                for member in members:
                    name = os.path.basename(member.filename)
                    if member.file_size > MAX_MEMBER_BYTES or not name or name.startswith("."):
                        raise _fail(f"{arg}: {member.filename!r} is not a firmware module",
                                    "Nothing was written to the device.")
                    target = os.path.join(folder, name)
                    if os.path.exists(target):
                        raise _fail(f"{arg} holds two files named {name}", "Nothing was written to the device.")
                    with bundle.open(member) as src, open(target, "wb") as dst:
                        dst.write(src.read(MAX_MEMBER_BYTES + 1)[:MAX_MEMBER_BYTES])
                    out.append(target)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise _fail(f"{arg} is not a readable bundle: {exc}",
                        "Nothing was written to the device. Give an app .bin, or the .zip particle compile "
                        "made.") from None
    return out


def _app(items) -> Optional[object]:
    for _arg, data in items:
        module = parse(data) if data else None
        if module is not None and module.prefix is not None and module.prefix.function == ModuleFunction.USER_PART:
            return module
    return None


def _has_device_os(items) -> bool:
    for _arg, data in items:
        module = parse(data) if data else None
        if module is not None and module.prefix is not None and module.prefix.function in DEVICE_OS_FUNCTIONS:
            return True
    return False


def needed_system_version(app) -> Optional[int]:
    """The system part module version the app depends on (its prefix's dependency)."""
    for dep in app.prefix.dependencies:
        if dep.function == ModuleFunction.SYSTEM_PART:
            return dep.version
    return None


def release_for(platform, module_version: int, api=None) -> Optional[str]:
    """The Device OS release whose system parts carry ``module_version``: a pinned one, else the
    one the cloud names (GET /v1/device-os/versions/<module version>?platform_id=<id>, as 3.51
    asks). None when neither knows."""
    from particle_py.firmware import releases

    for version in reversed(releases.versions_for(platform.name)):
        pin = releases.pinned(version, platform.name)
        if any(m.function == ModuleFunction.SYSTEM_PART and m.module_version == module_version for m in pin.modules):
            return version
    from particle_py.cloud.api import client_from_config, device_os_release_version
    from particle_py.cloud.errors import ApiError

    try:
        api = api or client_from_config()
        body = api.request("GET", f"/v1/device-os/versions/{int(module_version)}?platform_id={platform.platform_id}")
    except ApiError:
        return None
    return device_os_release_version(body, platform.platform_id)


def _device_os_now(entry) -> tuple[Optional[str], Optional[dict]]:
    """What a normal-mode device runs: its Device OS version and {system part index: module
    version} of the valid ones Device OS lists (None where it does not tell); (None, None) in
    DFU mode, where it is not known."""
    if entry.in_dfu:
        return None, None
    from particle_py.control import ControlSession, module_info
    from particle_py.firmware.releases import is_version

    session = ControlSession(entry.usb_device)
    try:
        found = session.firmware_version()
        info = module_info.read(session)
    except ParticlePyError:
        return None, None
    parts = None if info is None else {m.index: m.version for m in info
                                       if m.function == ModuleFunction.SYSTEM_PART and m.valid}
    return (found if is_version(found) else None), parts


def _served(app, parts: Optional[dict]) -> bool:
    """Whether the system parts the device runs meet every system-part dependency of the app."""
    if parts is None:
        return False
    return all(parts.get(dep.index, -1) >= dep.version for dep in app.prefix.dependencies
               if dep.function == ModuleFunction.SYSTEM_PART)


def flash_local(args: list[str], *, target: Optional[str] = None, application_only: bool = False,
                device_id: Optional[str] = None, paths=(), allow_download: bool = True, api=None,
                reporter: events.Reporter = events.QUIET) -> LocalFlashResult:
    """Flash ``args`` (files, bundles, a known app name) over USB, the Device OS they need first.
    ``reporter`` gets update's and flash's events; a Step says why Device OS goes first."""
    import tempfile

    from particle_py.firmware.releases import is_version, version_key
    from particle_py.ops import flash as flash_ops
    from particle_py.ops import update as update_ops
    from particle_py.ops.discovery import find_device, release_entry

    if target is not None and not is_version(target):
        raise _fail(f"Invalid version: {target}", "Give a Device OS version such as 6.3.4; nothing was written.")
    with tempfile.TemporaryDirectory(prefix="particle-py-bundle-") as folder:
        files = unpack_bundles(list(args), folder)
        items = flash_ops.read_local_files(files)
        app = _app(items)
        entry = find_device(device_id, platform_id=flash_ops._wanted_platform(items))
        platform = entry.platform
        try:
            # every file checked against the platform before anything is written
            flash_ops.plan(flash_ops.resolve_sources(items, platform), platform)
            current, parts = _device_os_now(entry)
        finally:
            release_entry(entry)
        version, why = "", ""
        if _has_device_os(items) or app is None or application_only:
            pass
        elif target:
            version, why = target, f"Device OS {target} first, as --target asks"
        elif current is not None and not _served(app, parts):
            needs = needed_system_version(app)
            if needs is not None:
                release = release_for(platform, needs, api)
                if release is None:
                    # as 3.51 does, the app goes alone; flash's check after the reset says if it
                    # cannot run (safe mode) and what to do
                    reporter.step(f"Which Device OS release the app needs (system part version {needs}) is "
                                  "not known here: flashing the app alone (--target <version> names one).")
                elif version_key(current) < version_key(release):
                    version, why = release, f"Device OS {release} first: the app needs it (the device has {current})"
        update = None
        if version:
            reporter.step(why)
            update = update_ops.update(entry.device_id, target=version, paths=paths, allow_download=allow_download,
                                       reporter=reporter)
        flashed = flash_ops.flash_usb(files, device_id=entry.device_id, reporter=reporter)
    return LocalFlashResult(flashed, update, version, why)
