"""What `particle usb list|dfu|reset|start-listening` and `particle identify` do, minus printing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from particle_py import events
from particle_py.control import ControlSession, device as device_requests
from particle_py.errors import ParticlePyError
from particle_py.ops import device as dev_ops
from particle_py.ops import discovery

NO_NAME = "<unknown>"           # particle-cli's label when the cloud name is not looked up


@dataclass(frozen=True)
class ListedDevice:
    name: str
    device_id: str
    platform_name: str
    display_name: str
    in_dfu: bool
    mode: str                    # NORMAL, LISTENING, SAFE ..., or UNKNOWN


def device_mode(entry) -> str:
    """DFU, or what a normal-mode device says it is in (NORMAL, LISTENING, SAFE; UNKNOWN)."""
    if entry.in_dfu:
        return "DFU"
    return device_requests.device_mode(ControlSession(entry.usb_device))


def _filter(rows: list[ListedDevice], flt: Optional[str], info: Optional[dict] = None) -> list[ListedDevice]:
    if not flt:
        return rows
    from particle_py.platforms import by_name

    f = flt.lower()
    if f in ("online", "offline"):
        if not info and rows:
            raise ParticlePyError(f"The '{flt}' filter needs the cloud: log in first",
                                  "Run `particle login`, or filter by platform name or device id.")
        want = f == "online"
        return [r for r in rows if (info or {}).get(r.device_id, {}).get("connected", False) == want]
    platform = by_name(f)
    if platform is not None:
        return [r for r in rows if r.platform_name == platform.name]
    return [r for r in rows if r.device_id.startswith(f) or r.name.lower() == f]


def cloud_info(device_ids: list[str]) -> dict[str, dict]:
    """{id: {"name", "connected"}} from the cloud when logged in; {} otherwise. A failure to
    reach the cloud only costs the names (particle-cli lists the devices all the same)."""
    from particle_py.cloud.api import client_from_config
    from particle_py.cloud.config import Settings

    try:
        settings = Settings()
        if not settings.access_token:
            return {}
        client = client_from_config(settings)
    except (OSError, ValueError, ParticlePyError):
        return {}
    client.timeout = 10
    found: dict[str, dict] = {}
    for device_id in device_ids:
        if not device_id:
            continue
        try:
            found[device_id] = client.device_info(device_id)
        except ParticlePyError as err:
            if getattr(err, "status", 0) in (403, 404):
                continue              # not in this account: no name to show
            break                     # offline or token trouble: do not wait once per device
    return found


def list_usb(flt: Optional[str] = None, *, exclude_dfu: bool = False, ids_only: bool = False) -> list[ListedDevice]:
    entries = []
    for entry in discovery.list_devices():
        with ControlSession(entry.usb_device):
            if exclude_dfu and entry.in_dfu:
                continue
            entries.append((entry, device_mode(entry)))
    wants_cloud = not ids_only or (flt or "").lower() in ("online", "offline")
    info = cloud_info([e.device_id for e, _ in entries]) if wants_cloud else {}
    rows = [ListedDevice(info.get(e.device_id, {}).get("name") or NO_NAME, e.device_id, e.platform.name,
                         e.platform.display_name, e.in_dfu, mode) for e, mode in entries]
    rows.sort(key=lambda r: r.name)       # stable: bus order among equal names, as particle-cli
    return _filter(rows, flt, info)


def resolve(device: Optional[str]) -> Optional[str]:
    """A device name becomes the id of the attached device the cloud knows by that name (when
    logged in); ids and unknown names pass unchanged."""
    import re

    if not device or re.fullmatch(r"[0-9a-fA-F]{1,24}", device):
        return device
    ids = []
    for entry in discovery.list_devices():
        with ControlSession(entry.usb_device):
            ids.append(entry.device_id)
    for device_id, info in cloud_info(ids).items():
        if info["name"] == device:
            return device_id
    return device                      # reported as "Device not found: <name>" by the caller


def _find(device: Optional[str]):
    try:
        return discovery.find_device(resolve(device))
    except ParticlePyError as err:
        if device and err.message.startswith("Device not found"):
            raise ParticlePyError(f"Device not found: {device}", err.hint) from None
        raise


def enter_dfu(device_id: Optional[str] = None, reporter: events.Reporter = events.QUIET) -> str:
    entry = _find(device_id)
    entry = dev_ops.switch_to_dfu(entry, reporter)
    discovery.release_entry(entry)                     # found again in DFU mode: nothing more to ask it
    return entry.device_id


def reset(device_id: Optional[str] = None) -> str:
    entry = _find(device_id)
    device = dev_ops.ParticleDfuDevice(entry)
    try:
        device.reset(leave=True)
    finally:
        device.close()
    return entry.device_id


def _normal_mode(device_id: Optional[str], what: str):
    entry = _find(device_id)
    if entry.in_dfu:
        discovery.release_entry(entry)
        raise ParticlePyError(f"The device is in DFU mode; {what} needs it running its firmware",
                              "Run `particle usb reset` (or press RESET) and try again.")
    return entry


def start_listening(device_id: Optional[str] = None) -> str:
    entry = _normal_mode(device_id, "listening mode")
    with ControlSession(entry.usb_device) as session:
        device_requests.start_listening(session)
    return entry.device_id


@dataclass(frozen=True)
class Identity:
    device_id: str
    system_version: str


def identify(device_id: Optional[str] = None) -> Identity:
    try:
        entry = _normal_mode(device_id, "identify")
    except ParticlePyError as err:
        raise ParticlePyError(f"Could not identify device: {err.message}", err.hint) from None
    with ControlSession(entry.usb_device) as session:
        try:
            version = session.firmware_version()
        except ParticlePyError as err:
            raise ParticlePyError(f"Could not identify device: {err.message}", err.hint) from None
    return Identity(entry.device_id, version)
