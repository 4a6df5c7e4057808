"""Device Protection from the computer's side: what a device's protection is, the refusal of a
write protection would refuse anyway, and Service Mode through the cloud.

``read_state(entry)`` asks a found device (normal mode: GET_PROTECTED_STATE; DFU mode: the
bootloader's string 0xFA, else the ``b`` attribute of its internal flash). ``refuse_writes``
is what flash --usb, update and the keys commands call before they change anything: a
Protected Device, or a Device OS older than 6.0.0 for a device protection holds to it, stops
there with what it means and what to run. ``status``/``disable``/``enable`` are the
``particle device-protection`` commands, worded as particle-cli 3.51.0 words them.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Optional

from particle_py import control_codes as codes
from particle_py import events
from particle_py.errors import ParticlePyError

EX_PROTECTED = 77                  # sysexits EX_NOPERM: the device does not permit it
DISABLE = "particle device-protection disable"
NOT_SUPPORTED = ("Device Protection feature is not supported on this device. Visit https://docs.particle.io for "
                 "more information.")


def capable(platform) -> bool:
    return platform is not None and platform.platform_id in codes.PROTECTION_PLATFORM_IDS


def read_state(entry):
    """The device's ProtectionState, or None where protection cannot be on (a platform without
    it, a Device OS before 6, a DFU bootloader that shows no sign of it)."""
    from particle_py.control import protection as proto

    if not capable(entry.platform):
        return None
    if entry.in_dfu:
        from particle_py.dfu import layout
        from particle_py.ops.dfu_session import probe_alts
        from particle_py.ops.discovery import string_descriptor

        shown = proto.from_dfu_string(string_descriptor(entry.usb_device, codes.DFU_STATE_STRING_INDEX,
                                                       stalled_means_absent=True))
        if shown is not None:
            return shown
        name = probe_alts(entry.usb_device).get(0, ("", 0))[0]
        try:
            segments = layout.parse(name).segments if name else []
        except ParticlePyError:
            return None
        state = proto.from_layouts(segments)
        return state if state.protected else None
    from particle_py.control import ControlSession

    reply = ControlSession(entry.usb_device).request(codes.GET_PROTECTED_STATE)
    if not reply.supported:
        return None
    if reply.result != codes.RESULT_OK:
        return None
    return proto.parse_state(reply.data)


def _version_number(version: str) -> int:
    parts = (version.split("-")[0].split(".") + ["0", "0"])[:3]
    try:
        return int(parts[0]) * 1000 + int(parts[1]) * 100 + int(parts[2])
    except ValueError:
        return 0


def refuse_writes(state, device_id: str, *, target: Optional[str] = None, again: str = "") -> None:
    """Raise before anything is written when protection would refuse it.

    ``state``: read_state's answer; ``target``: the Device OS version about to be written, if
    any; ``again``: the command to run once the device allows it."""
    if state is None:
        return
    rerun = f"\n  {again}" if again else ""
    if target and _version_number(target) < codes.PROTECTED_MIN_SYSTEM_VERSION:
        raise ParticlePyError(
            f"Device {device_id} is a Protected Device: Device OS {target} is older than 6.0.0, the oldest it takes.",
            "Protection refuses a system part older than 6.0.0, in Service Mode too; nothing was written. Choose "
            "Device OS 6.0.0 or newer (--target 6.x), or ask for the device to be made an Open Device in its "
            "product on the Particle console.", EX_PROTECTED)
    if state.refuses_writes:
        how = ("in DFU mode it can be erased only, never read or written" if state.overridden is None else
               "it refuses every write over USB")
        raise ParticlePyError(
            f"Device {device_id} is a Protected Device: {how}.",
            f"Nothing was written. Put it in Service Mode (20 restarts or 24 hours), then run the command "
            f"again:\n  {DISABLE}{rerun}", EX_PROTECTED)


def check(entry, *, target: Optional[str] = None, again: str = ""):
    """read_state + refuse_writes for a found device; returns the state (None: no protection)."""
    state = read_state(entry)
    refuse_writes(state, entry.device_id, target=target, again=again)
    return state


def ended_mid_way(before, device_id: str, written: Optional[list], again: str) -> Optional[ParticlePyError]:
    """After a failed restore of a device that was in Service Mode (``before``): the state to
    report when the device is protected again (Service Mode ran out of restarts or time), else None."""
    from particle_py.ops.discovery import find_device, release_entry

    if before is None or not before.overridden:
        return None
    try:
        entry = find_device(device_id)
    except ParticlePyError:
        return None
    try:
        now = read_state(entry)
    except ParticlePyError:
        now = None
    finally:
        release_entry(entry)
    if now is None or not now.refuses_writes:
        return None
    return service_mode_ended(device_id, written, again)


def service_mode_ended(device_id: str, written: Optional[list], again: str) -> ParticlePyError:
    """Service Mode ran out while the restore was under way: what the device holds and what to run.
    ``written``: the modules written before it ended (None: not known to the caller)."""
    done = "" if written is None else f"Written before it ended: {', '.join(written) if written else 'nothing'}; "
    return ParticlePyError(
        f"Service Mode ended during the restore: device {device_id} is a Protected Device again.",
        f"{done}{'the' if done else 'The'} device refused the rest. Put it back in Service Mode and run the command again (it writes "
        f"only what is missing):\n  {DISABLE}\n  {again}",
        EX_PROTECTED)


# --- particle device-protection -------------------------------------------------------------------
@dataclass
class StatusResult:
    device_id: str
    product_id: Optional[int]
    state: str                                  # open | protected | service

    def device_string(self) -> str:
        return f"[{self.device_id}] (Product {self.product_id or 'N/A'})"


STATUS_TEXT = {
    "service": ("Protected Device (Service Mode)",
                "Run particle device-protection enable to take the device out of Service Mode."),
    "protected": ("Protected Device", "Run particle device-protection disable to put the device in Service Mode."),
    "open": ("Open Device", "Run particle device-protection enable to protect the device."),
}


def _device(device: Optional[str]):
    from particle_py.ops.discovery import find_device

    entry = find_device(device)
    if entry.platform.generation <= 2 or not capable(entry.platform):
        from particle_py.ops.discovery import release_entry
        release_entry(entry)
        raise ParticlePyError(NOT_SUPPORTED, None, 1)
    return entry


def _state_name(entry) -> str:
    state = read_state(entry)
    if state is None:
        if entry.in_dfu:
            return "open"
        raise ParticlePyError(NOT_SUPPORTED, None, 1)
    return state.name


def _product_id(device_id: str) -> Optional[int]:
    """The device's product, from the cloud when it answers (particle-cli: N/A otherwise)."""
    try:
        from particle_py.cloud.api import client_from_config

        attrs = client_from_config().request("GET", f"/v1/devices/{device_id}")
    except (ParticlePyError, OSError, ValueError):
        return None
    product, platform = attrs.get("product_id"), attrs.get("platform_id")
    return product if isinstance(product, int) and product != platform else None


def status(device: Optional[str] = None, *, reporter: events.Reporter = events.QUIET) -> StatusResult:
    from particle_py.ops.discovery import release_entry

    entry = _device(device)
    try:
        name = _state_name(entry)
    finally:
        release_entry(entry)
    return StatusResult(entry.device_id, _product_id(entry.device_id), name)


def _set(entry, payload: bytes) -> bytes:
    from particle_py.control import ControlSession

    reply = ControlSession(entry.usb_device).request(codes.SET_PROTECTED_STATE, payload).taken()
    if reply.result != codes.RESULT_OK:
        text = codes.RESULT_TEXT.get(reply.result, f"result {reply.result}")
        raise ParticlePyError(f"The device refused the Service Mode request: {text}",
                              "Run particle device-protection status, then the command again.", 1)
    return reply.data


def disable(device: Optional[str] = None, *, reporter: events.Reporter = events.QUIET) -> tuple[StatusResult, bool]:
    """Service Mode through the cloud's signed exchange. (result, changed): changed False when
    the device was not protected."""
    from particle_py.cloud.api import client_from_config
    from particle_py.control import protection as proto
    from particle_py.ops.discovery import release_entry

    entry = _device(device)
    try:
        name = _state_name(entry)
        result = StatusResult(entry.device_id, None, name)
        if name == "open":
            return result, False
        if entry.in_dfu:
            entry = _to_normal_mode(entry, reporter)
        api = client_from_config()
        path = f"/v1/devices/{entry.device_id}/unprotect"
        reporter.detail("Asking the cloud for a server nonce")
        answer = api.request("PUT", path, {"action": "prepare"})
        server_nonce = _b64(answer, "server_nonce")
        prepared = proto.parse_prepare(_set(entry, proto.prepare_request(server_nonce)))
        if prepared is None:
            return result, False
        try:
            answer = api.request("PUT", path, {
                "action": "confirm", "server_nonce": base64.b64encode(server_nonce).decode(),
                "device_nonce": base64.b64encode(prepared.device_nonce).decode(),
                "device_signature": base64.b64encode(prepared.device_signature).decode(),
                "device_public_key_fingerprint": base64.b64encode(prepared.device_key_fingerprint).decode()})
        except ParticlePyError as err:
            if err.message == "Device public key was not found":
                raise ParticlePyError(
                    "Server key mismatch while putting device in Service Mode. Check that device is accessible "
                    f"through {api.api_url}.", "The cloud does not hold this device's key: repair it with "
                    "particle keys doctor once the device is in Service Mode, or check apiUrl.", 1) from None
            raise
        _set(entry, proto.confirm_request(_b64(answer, "server_signature"),
                                          _b64(answer, "server_public_key_fingerprint")))
        result.state = "service"
        result.product_id = _product_id(entry.device_id)
        return result, True
    finally:
        release_entry(entry)


def enable(device: Optional[str] = None, *, reporter: events.Reporter = events.QUIET) -> tuple[StatusResult, str]:
    """Take a device out of Service Mode. (result, what): 'now' (it is protected again),
    'already' (it was), 'open' (an Open Device: protecting one takes its product's bootloader,
    which particle-py does not write)."""
    from particle_py.control import protection as proto
    from particle_py.ops.discovery import release_entry

    entry = _device(device)
    try:
        name = _state_name(entry)
        result = StatusResult(entry.device_id, None, name)
        if name == "service":
            if entry.in_dfu:
                _dfuse_extension(entry, codes.DFUSE_CLEAR_SECURITY_MODE_OVERRIDE)
            else:
                _set(entry, proto.reset_request())
            result.state = "protected"
            outcome = "now"
        else:
            outcome = "already" if name == "protected" else "open"
    finally:
        release_entry(entry)
    result.product_id = _product_id(entry.device_id)
    return result, outcome


def _b64(answer: dict, key: str) -> bytes:
    value = answer.get(key)
    try:
        return base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except ValueError:
        return b""


def _dfuse_extension(entry, command: int) -> None:
    """One of the bootloader's two DfuSe extensions (0xFA safe mode, 0xFB clear the override),
    which a protected bootloader takes."""
    from particle_py.usb import release_device

    dev = entry.usb_device
    try:
        dev.ctrl_transfer(0x21, 1, 0, 0, bytes([command]), timeout=5000)       # DFU_DNLOAD block 0
        dev.ctrl_transfer(0xA1, 3, 0, 0, 6, timeout=5000)                      # DFU_GETSTATUS runs it
    except Exception as exc:            # a device that leaves for safe mode may not answer
        if command != codes.DFUSE_ENTER_SAFE_MODE:
            raise ParticlePyError(f"The DFU bootloader did not take command 0x{command:02X} ({exc})",
                                  "Reset the device and run the command again.", 1) from None
    finally:
        release_device(dev)


def _to_normal_mode(entry, reporter):
    """A device in DFU mode leaves for safe mode by the 0xFA extension, to talk to Device OS."""
    from particle_py.ops.discovery import MODE_NORMAL
    from particle_py.ops.reconnect import Board, refind

    board = Board.of(entry, after_reset=True)
    reporter.detail("Leaving DFU mode for safe mode (DfuSe command 0xFA)")
    _dfuse_extension(entry, codes.DFUSE_ENTER_SAFE_MODE)
    again = refind(board, mode=MODE_NORMAL)
    if again is None:
        raise ParticlePyError("The device did not come back in safe mode.",
                              "Reset it, then run particle device-protection disable again.", 1)
    return again
