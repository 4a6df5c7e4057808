"""What `particle usb list|dfu|reset|start-listening` and `particle identify` do, minus printing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from particle_py import control_codes as codes
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


def _reset_entry(entry) -> str:
    device = dev_ops.ParticleDfuDevice(entry)
    try:
        device.reset(leave=True)
    finally:
        device.close()
    return entry.device_id


def reset(device_id: Optional[str] = None) -> str:
    return _reset_entry(_find(device_id))


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


# --- particle-cli 3.47-3.51's usb commands: several devices, and the requests behind them -----
DFU_HINT = "Run `particle usb reset` (or press RESET) and try again."


def find_targets(targets: discovery.Selection) -> list:
    """The devices a command acts on: every attached one (--all), the ones named (ids, id
    prefixes or cloud names), or the one attached (the single-device rule of every command).
    With --platform or --mode, the rule every particle-py device command shares
    (discovery.select_devices); without, particle-cli 3.51's."""
    if targets.platform or targets.mode:
        import dataclasses

        named = tuple(resolve(d) for d in dict.fromkeys(targets.ids))
        return discovery.select_devices(dataclasses.replace(targets, ids=named))
    if targets.every:
        entries = discovery.list_devices()
        if not entries:
            discovery.choose_one([])                 # "No devices found", with its hint
        return entries
    if not targets.ids:
        return [_find(None)]
    found = []
    try:
        for device in dict.fromkeys(targets.ids):    # a device named twice is asked once
            found.append(_find(device))
    except ParticlePyError:
        for entry in found:
            discovery.release_entry(entry)
        raise
    return found


def _require_normal(entry, what: str) -> None:
    if entry.in_dfu:
        raise ParticlePyError(f"The device is in DFU mode; {what} needs it running its firmware",
                              f"{DFU_HINT} (device {entry.device_id})")


def for_each(entries: list, work) -> list:
    """``work(entry)`` for each device in turn; a failure on one does not stop the others (as
    particle-cli's), and the last failure is raised once all had their turn."""
    results, failure = [], None
    for entry in entries:
        try:
            results.append(work(entry))
        except ParticlePyError as err:
            failure = err
        finally:
            discovery.release_entry(entry)
    if failure is not None:
        raise failure
    return results


def _session_work(what: str, request):
    def work(entry):
        _require_normal(entry, what)
        with ControlSession(entry.usb_device) as session:
            return request(entry, session)
    return work


def stop_listening(targets: discovery.Selection) -> list[str]:
    from particle_py.control import config

    return for_each(find_targets(targets), _session_work(
        "leaving listening mode", lambda e, s: (config.stop_listening(s), e.device_id)[1]))


def start_listening_all(targets: discovery.Selection) -> list[str]:
    return for_each(find_targets(targets), _session_work(
        "listening mode", lambda e, s: (device_requests.start_listening(s), e.device_id)[1]))


def safe_mode(targets: discovery.Selection) -> list[str]:
    """Restart each device in safe mode (Device OS without the application, breathing magenta)."""
    from particle_py.control import config

    return for_each(find_targets(targets), _session_work(
        "safe mode", lambda e, s: (config.enter_safe_mode(s), e.device_id)[1]))


def enter_dfu_all(targets: discovery.Selection, reporter: events.Reporter = events.QUIET) -> list[str]:
    def work(entry):
        if entry.in_dfu:
            return entry.device_id
        switched = dev_ops.switch_to_dfu(entry, reporter)
        discovery.release_entry(switched)
        return switched.device_id
    return for_each(find_targets(targets), work)


def reset_all(targets: discovery.Selection) -> list[str]:
    return for_each(find_targets(targets), _reset_entry)


SETUP_DONE_GENERATION = 3            # particle-usb sends the request to Gen3 devices only


def setup_done(targets: discovery.Selection, *, clear: bool = False) -> list[str]:
    """Set (or clear) the setup-done flag of each Gen3 device, then take it out of (or into)
    listening mode, as particle-cli does; other devices are left as they are."""
    from particle_py.control import config
    from particle_py.control_codes import RESULT_TEXT

    def request(entry, session):
        if entry.platform.generation != SETUP_DONE_GENERATION:
            return entry.device_id
        reply = config.set_setup_done(session, not clear)
        if not reply.ok:
            text = RESULT_TEXT.get(reply.result, f"result {reply.result}")
            hint = ("Device OS 4.0 and later no longer keep the setup-done flag: there is nothing to clear."
                    if clear and not reply.supported else "Reset the device and try again.")
            raise ParticlePyError(f"The device {entry.device_id} refused the setup-done flag ({text})", hint)
        if clear:
            device_requests.start_listening(session)
        else:
            config.stop_listening(session)
        return entry.device_id
    return for_each(find_targets(targets), _session_work("the setup-done flag", request))


CLOUD_STATUS_SINCE = "Device OS 1.1.0 on Gen2 devices, 0.9.0 on Gen3"
POLL_MS = 500


def cloud_status(device: str, until: Optional[str] = None, timeout_ms: int = 60_000) -> str:
    """The device's cloud connection state in particle-cli's words (lower case); with ``until``,
    asked again every half second until it is that state, for at most ``timeout_ms``."""
    from particle_py import usb as transport
    from particle_py.control import cloud

    entry = _find(device)
    try:
        _require_normal(entry, "the cloud status")
        with ControlSession(entry.usb_device) as session:
            def ask() -> str:
                reply = session.request(codes.CLOUD_GET_CONNECTION_STATUS)
                if not reply.supported:
                    raise ParticlePyError("The device's Device OS does not report its cloud connection status",
                                          f"The request needs {CLOUD_STATUS_SINCE}: run `particle update`.")
                return cloud.parse_connection_status(reply.taken().data).lower()
            status = ask()
            waited = 0
            while until and status != until:
                if waited >= timeout_ms:
                    raise ParticlePyError("Timed out waiting for status",
                                          f"The device stayed {status}; check its LED (particle doctor).")
                transport.sleep_ms(POLL_MS)
                waited += POLL_MS
                status = ask()
            return status
    finally:
        discovery.release_entry(entry)


@dataclass(frozen=True)
class DeviceAnswer:
    """What one device answered a per-device request: ``value`` or the ``error`` text."""
    device_id: str
    platform_id: int
    platform_name: str          # display name
    value: object = None
    error: Optional[str] = None
    hint: Optional[str] = None          # what to do about the error
    exit_code: int = 1


def _answers(targets: discovery.Selection, what: str, request) -> list[DeviceAnswer]:
    """Each device's answer; a device that fails gives its error text (particle-cli goes on)."""
    answers = []
    for entry in find_targets(targets):
        try:
            _require_normal(entry, what)
            with ControlSession(entry.usb_device) as session:
                value, failure = request(session), None
        except ParticlePyError as err:       # e.g. the device reset during the request
            value, failure = None, err
        finally:
            discovery.release_entry(entry)
        answers.append(DeviceAnswer(entry.device_id, entry.platform.platform_id, entry.platform.display_name,
                                    value, failure and failure.message, failure and failure.hint,
                                    failure.exit_code if failure else 1))
    return answers


def network_interfaces(targets: discovery.Selection) -> list[DeviceAnswer]:
    """Each device's interfaces in full (control/interfaces.InterfaceDetail)."""
    from particle_py.control import interfaces, network
    from particle_py.control.network import index_request

    def request(session):
        reply = session.request(codes.NETWORK_GET_INTERFACE_LIST)
        if not reply.supported:
            raise ParticlePyError("Not supported", "Reading interfaces over USB needs Device OS 0.8.0 on Gen2 "
                                  "devices, 0.9.0 on Gen3: run `particle update`, or `particle serial inspect`.")
        found = []
        for item in network.parse_interface_list(reply.taken().data):
            detail = session.request(codes.NETWORK_GET_INTERFACE, index_request(item.index)).taken()
            parsed = interfaces.parse_interface_detail(detail.data) if detail.ok else None
            if parsed is None:
                raise ParticlePyError("Not found")
            found.append(parsed)
        return found
    return _answers(targets, "reading its network interfaces", request)


ENV_SINCE_TEXT = "USB env is only supported on Device OS 6.4.0 or later"


def env_variables(targets: discovery.Selection) -> list[DeviceAnswer]:
    """Each device's env variables (control/env.EnvReply), or particle-cli's words for a Device
    OS before 6.4."""
    from particle_py.control import env

    def request(session):
        reply = env.get_env(session)
        if not reply.supported:
            raise ParticlePyError(ENV_SINCE_TEXT)
        if not reply.ok:
            raise ParticlePyError(codes.RESULT_TEXT.get(reply.result, f"result {reply.result}"))
        return env.parse_env(reply.data)

    answers = _answers(targets, "reading its env variables", request)
    return [a if a.error is None or a.error == ENV_SINCE_TEXT else
            DeviceAnswer(a.device_id, a.platform_id, a.platform_name, None,
                         f"Error getting environment variables for device {a.device_id}: {a.error}",
                         a.hint, a.exit_code)
            for a in answers]


def send_request(payload: str, targets: discovery.Selection) -> list[DeviceAnswer]:
    """An application request (type 10) to each device; each answer's ``value`` is
    (result code, reply text)."""
    from particle_py.control import app

    def request(session):
        reply = app.send(session, payload.encode("utf-8"))
        return reply.result, app.reply_text(reply.data)
    return _answers(targets, "an application request", request)
