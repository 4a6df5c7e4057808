"""What `particle serial list|identify|mac|inspect|wifi|monitor` do, minus printing.

Each question goes to USB control requests when the device's Device OS answers them (as
particle-cli 3.21+ does), else to the listening-mode serial protocol (as particle-cli up to
3.20 did), with the user told how to enter listening mode when that is what it takes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Optional

from particle_py import events, platforms
from particle_py.control import ControlSession, module_info, network
from particle_py.errors import ParticlePyError
from particle_py.serial_link import listening, ports, transport
from particle_py.serial_link.ports import SerialDevice

EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
FOLLOW_DELAY_S = 0.25             # particle-cli's settings.serial_follow_delay


def list_serial() -> list[SerialDevice]:
    return ports.find_devices()


def _version_tuple(text: str) -> tuple:
    """semver order, enough for 'is it at least 6.0.0': a pre-release sorts before its release."""
    main, _, pre = (text or "0").partition("-")
    numbers = []
    for part in main.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits or 0))
    return tuple(numbers + [0] * (3 - len(numbers))) + ((0,) if pre else (1,))


def at_least(version: str, minimum: str) -> bool:
    return _version_tuple(version) >= _version_tuple(minimum)


# --- USB side -----------------------------------------------------------------------------------
class _UsbDevice:
    """A normal-mode device opened for control requests (closed by the caller)."""

    def __init__(self, entry):
        self.entry = entry
        self.session = ControlSession(entry.usb_device)

    @property
    def platform(self) -> platforms.Platform:
        return self.entry.platform

    @property
    def device_id(self) -> str:
        return self.entry.device_id

    def version(self) -> str:
        return self.session.firmware_version()

    def request(self, req_type: int, payload: bytes = b"") -> Optional[bytes]:
        """The reply, or None when this Device OS does not answer the request."""
        reply = self.session.request(req_type, payload)
        if not reply.supported:
            return None
        if reply.result != 0:
            raise ParticlePyError(f"The device refused control request {req_type} (result {reply.result})",
                                  "Reset the device (`particle usb reset`) and run the command again.")
        return reply.data

    def close(self) -> None:
        self.session.close()


def _usb_unreachable(err: ParticlePyError) -> bool:
    """USB cannot see the device (no libusb access, a Core, a driver that hides it): the serial
    protocol is tried then."""
    from particle_py.errors import UsbError
    return isinstance(err, UsbError) or err.message.startswith(("No devices found", "Device not found",
                                                                "No libusb backend"))


def _open_usb(device_id: Optional[str], what: Optional[str] = None) -> Optional[_UsbDevice]:
    """The device over USB in normal mode; None when USB cannot reach it. With ``what``, other
    failures (several devices, DFU mode) are raised as particle-cli words them."""
    from particle_py.ops import usb_commands
    try:
        entry = usb_commands._normal_mode(usb_commands.resolve(device_id) if what else device_id, what or "this")
    except ParticlePyError as err:
        if what is None or _usb_unreachable(err):
            return None
        raise ParticlePyError(f"Could not identify device: {err.message}", err.hint, err.exit_code) from None
    return _UsbDevice(entry)


def _serial_for(device_id: str) -> Optional[SerialDevice]:
    for device in ports.find_devices():
        if device.device_id and device.device_id.lower() == device_id.lower():
            return device
    return None


# --- identify -----------------------------------------------------------------------------------
@dataclass
class Identity:
    device_id: str
    system_version: Optional[str] = None
    imei: Optional[str] = None
    iccid: Optional[str] = None
    via: str = "usb"
    missing: Optional[ParticlePyError] = None       # what could not be read, and how to get it


def identify(device: Optional[str] = None, port: Optional[str] = None, *, choose=None) -> Identity:
    chosen = ports.choose(port, need_id=False) if port else None
    if chosen is not None and not chosen.device_id:
        return _identify_serial(chosen, device)          # a port we cannot place: ask the device itself
    wanted = chosen.device_id if chosen else device
    usb = _open_usb(wanted, "identify")
    if usb is None:
        return _identify_serial(chosen or ports.choose(None, ask=choose), device)
    try:
        try:
            who = Identity(usb.device_id, usb.version())
        except ParticlePyError as err:
            raise ParticlePyError(f"Could not identify device: {err.message}", err.hint, err.exit_code) from None
        if "cellular" in platforms.networks(usb.platform):
            if at_least(who.system_version or "0", "6.0.0"):
                data = usb.request(network.CELLULAR_GET_ICCID)
                if data is not None:
                    who.iccid, who.imei = network.parse_cellular(data)
            else:
                _cellular_over_serial(who)
        return who
    finally:
        usb.close()


def _cellular_over_serial(who: Identity) -> None:
    """Device OS before 6.0 gives IMEI/ICCID only in listening mode, over serial."""
    serial_device = _serial_for(who.device_id)
    try:
        if serial_device is None:
            raise ParticlePyError(f"No serial port found for device {who.device_id}",
                                  "Connect it with a data USB cable; `particle serial list` shows its port.")
        reply = listening.query(serial_device.port, "i", listening.parse_identify)
        who.imei, who.iccid = reply.imei, reply.iccid
    except ParticlePyError as err:
        who.missing = ParticlePyError(
            f"Could not get the IMEI and ICCID, ensure the device is in listening mode ({err.message})",
            "Device OS before 6.0 tells them only in listening mode: run `particle usb start-listening`, "
            "then this command again.", EX_UNAVAILABLE)


def _identify_serial(chosen: SerialDevice, device: Optional[str]) -> Identity:
    """The old way (particle-cli up to 3.20): ``i`` then ``v`` in listening mode."""
    try:
        reply = listening.query(chosen.port, "i", listening.parse_identify)
    except ParticlePyError as err:
        raise ParticlePyError(f"Could not identify device: {err.message}", err.hint, err.exit_code) from None
    who = Identity(reply.device_id, None, reply.imei, reply.iccid, via="serial")
    try:
        who.system_version = listening.query(chosen.port, "v", listening.parse_version)
    except ParticlePyError:
        who.system_version = None          # particle-cli: "Unable to determine system firmware version"
    return who


# --- mac ------------------------------------------------------------------------------------------
@dataclass
class MacAddress:
    mac: Optional[str]
    interface: Optional[str] = None       # 'WIFI' / 'ETHERNET' over USB; None over serial


def mac(port: Optional[str] = None, *, choose=None) -> MacAddress:
    chosen = ports.choose(port, ask=choose)
    if chosen.platform is not None and chosen.platform.generation == 1:
        raise ParticlePyError("Unable to get MAC address of a Core",
                              "The Core's Wi-Fi module does not report its MAC address over USB.")
    usb = _open_usb(chosen.device_id)
    if usb is not None:
        try:
            listed = usb.request(network.NETWORK_GET_INTERFACE_LIST)
            if listed is not None:
                for iface in network.parse_interface_list(listed):
                    if iface.type in ("WIFI", "ETHERNET"):
                        reply = usb.request(network.NETWORK_GET_INTERFACE, network.index_request(iface.index))
                        detail = network.parse_interface(reply or b"")
                        return MacAddress(detail.hw_address if detail else None, iface.type)
                return MacAddress(None)
        finally:
            usb.close()
    if chosen.platform is not None and "wifi" not in platforms.networks(chosen.platform):
        return MacAddress(None)
    try:
        return MacAddress(listening.query(chosen.port, "m", listening.parse_mac))
    except ParticlePyError as err:
        raise ParticlePyError(f"Could not get MAC address: {err.message}", err.hint, err.exit_code) from None


# --- inspect --------------------------------------------------------------------------------------
@dataclass
class Inspection:
    device_id: str
    platform: Optional[platforms.Platform]
    platform_id: Optional[int] = None
    modules: list = field(default_factory=list)     # module_info.ModuleInfo (usb) / listening.DescribedModule (serial)
    via: str = "usb"


def inspect(port: Optional[str] = None, *, choose=None) -> Inspection:
    chosen = ports.choose(port, ask=choose)
    usb = _open_usb(chosen.device_id)
    if usb is not None:
        try:
            data = usb.request(module_info.GET_MODULE_INFO)
            if data is not None:
                return Inspection(usb.device_id, usb.platform, usb.platform.platform_id, module_info.parse(data))
        finally:
            usb.close()
    try:
        describe = listening.query(chosen.port, "s", listening.parse_describe)
    except ParticlePyError as err:
        raise ParticlePyError(f"Could not inspect device: {err.message}", err.hint, err.exit_code) from None
    platform = platforms.by_id(describe.platform_id) if describe.platform_id is not None else chosen.platform
    return Inspection(chosen.device_id or "", platform, describe.platform_id, describe.modules, via="serial")


# --- wifi -----------------------------------------------------------------------------------------
SECURITY_NUMBERS = (("802.1x", None), ("WPA2", 3), ("WPA", 2), ("WEP", 1), ("NONE", 0))
WIFI_KEYS = ("network", "security", "password", "eap", "username", "outer_identity",
             "client_certificate", "private_key", "root_ca")


def security_number(security: str) -> int:
    """particle-cli's parsesecurity: WPA2_802.1x 5, WPA_802.1x 4, WPA2* 3, WPA* 2, WEP 1, NONE 0."""
    s = security.upper()
    if "802.1X" in s:
        return 5 if "WPA2" in s else 4
    for word, number in SECURITY_NUMBERS[1:]:
        if word in s:
            return number
    return 3


def cipher_number(security: str) -> int:
    s = security.upper()
    if "AES" in s and "TKIP" in s:
        return 3
    return 2 if "TKIP" in s else 1


def load_wifi_file(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ParticlePyError(f"{path} does not exist", "Give the path of a JSON file: "
                              '{"network": "...", "security": "WPA2_AES", "password": "..."}', EX_NOINPUT) from None
    except (OSError, ValueError) as exc:
        raise ParticlePyError(f"{path} is not a JSON file particle-py can read ({exc.__class__.__name__})",
                              'Write it as {"network": "...", "security": "WPA2_AES", "password": "..."}.',
                              EX_DATAERR) from None
    if not isinstance(data, dict) or not isinstance(data.get("network"), str) or not data["network"].strip():
        raise ParticlePyError(f"{path} names no network", 'Add "network": "<SSID>" to it.', EX_DATAERR)
    unknown = [k for k in data if k not in WIFI_KEYS]
    if unknown:
        raise ParticlePyError(f"{path} has keys particle-py does not know: {', '.join(sorted(unknown))}",
                              "Known keys: " + ", ".join(WIFI_KEYS) + ".", EX_DATAERR)
    return {k: str(v) for k, v in data.items() if v is not None}


PROMPTS = (
    ("SSID:", "network"),
    ("Security 0=unsecured, 1=WEP, 2=WPA, 3=WPA2, 4=WPA Enterprise, 5=WPA2 Enterprise:", "security_enterprise"),
    ("Security 0=unsecured, 1=WEP, 2=WPA, 3=WPA2:", "security"),
    ("Security Cipher 1=AES, 2=TKIP, 3=AES+TKIP:", "cipher"),
    ("EAP Type 0=PEAP/MSCHAPv2, 1=EAP-TLS:", "eap"),
    ("Username:", "username"),
    ("Outer identity (optional):", "outer_identity"),
    ("Client certificate in PEM format:", "client_certificate"),
    ("Private key in PEM format:", "private_key"),
    ("Root CA in PEM format (optional):", "root_ca"),
    ("Password:", "password"),
)
DONE_MARKERS = ("Particle <3 you!", "Spark <3 you!")
PROMPT_TIMEOUTS = {"network": 5.0, "security": 10.0, "security_enterprise": 10.0, "cipher": 5.0, "eap": 5.0}
PEM_KEYS = ("client_certificate", "private_key", "root_ca")


@dataclass
class WifiResult:
    ssid: str
    recommend_new_commands: bool = False


def _wifi_port(port: Optional[str], choose=None) -> SerialDevice:
    chosen = ports.choose(port, ask=choose)
    if chosen.platform is not None and "wifi" not in platforms.networks(chosen.platform):
        raise ParticlePyError("The device does not support Wi-Fi",
                              f"{chosen.type} devices connect over cellular; there is nothing to configure.",
                              EX_USAGE)
    return chosen


def wifi_recommendation(port: Optional[str], *, choose=None) -> tuple[SerialDevice, bool]:
    """The device, and whether its Device OS (>= 6.2.0) has better Wi-Fi commands."""
    chosen = _wifi_port(port, choose)
    usb = _open_usb(chosen.device_id)
    newer = False
    if usb is not None:
        try:
            newer = at_least(usb.version(), "6.2.0")
        except ParticlePyError:
            newer = False
        finally:
            usb.close()
    return chosen, newer


def configure_wifi(chosen: SerialDevice, answers: dict, ask: Callable[[str], str]) -> WifiResult:
    """Run the ``w`` dialogue; ``answers`` come from --file, ``ask(key)`` asks the user for the rest
    (key: network, security, security_enterprise, cipher, eap, username, outer_identity,
    client_certificate, private_key, root_ca, password, enterprise_password; security answers
    are particle-cli's names or numbers)."""
    from particle_py.serial_link.transport import PortClosed, open_port

    markers = [p for p, _ in PROMPTS] + list(DONE_MARKERS)
    keys = dict(PROMPTS)
    try:
        port_handle = open_port(chosen.port)
    except ParticlePyError as err:
        raise ParticlePyError(f"Something went wrong: {err.message}", err.hint, err.exit_code) from None
    ssid = answers.get("network", "")
    try:
        return _wifi_dialogue(port_handle, answers, ask, markers, keys, ssid)
    except PortClosed as err:
        raise ParticlePyError(f"{err.message}, in the middle of the Wi-Fi setup: the credentials were not "
                              "confirmed stored",
                              "Plug it back in, put it in listening mode (`particle usb start-listening`) and run "
                              "`particle serial wifi` again.", err.exit_code) from None
    except transport.Flooded as err:
        raise ParticlePyError(f"{err.message}; the Wi-Fi setup stopped there and nothing was confirmed stored",
                              err.hint, err.exit_code) from None


def _wifi_dialogue(port_handle, answers: dict, ask, markers, keys, ssid: str) -> WifiResult:
    enterprise = False
    with port_handle as handle:
        handle.write(b"w")
        seen = bytearray()
        timeout = 5.0
        first = True
        while True:
            _text, marker = handle.read_until(markers, timeout, seen)
            if marker is None:
                if first:
                    raise ParticlePyError("Serial timed out while initially listening to device, please ensure "
                                          "device is in listening mode with particle usb start-listening",
                                          listening.LISTENING_HINT, EX_UNAVAILABLE)
                raise ParticlePyError("Serial timed out: the device stopped answering in the middle of the Wi-Fi "
                                      "setup; nothing was confirmed stored",
                                      "Put it back in listening mode (`particle usb start-listening`) and run "
                                      "`particle serial wifi` again.", EX_UNAVAILABLE)
            first = False
            if marker in DONE_MARKERS:
                return WifiResult(ssid)
            key = keys[marker]
            if key in ("security", "security_enterprise"):
                value = answers.get("security") or ask(key)
                number = int(value) if str(value).isdigit() else security_number(str(value))
                answers.setdefault("security", str(value))
                enterprise = enterprise or number >= 4
                reply = f"{number}\n"
            elif key == "cipher":
                value = answers.get("security", "")
                if value and not str(value).isdigit():
                    reply = f"{cipher_number(value)}\n"
                else:
                    reply = f"{ask('cipher')}\n"
            elif key == "eap":
                enterprise = True
                value = answers.get("eap")
                if value is None:
                    value = ask("eap")
                reply = "1\n" if "tls" in str(value).lower() or str(value) == "1" else "0\n"
            elif key in PEM_KEYS:
                value = answers.get(key)
                if value is None:
                    value = ask(key)
                reply = value.strip() + "\n\n"
            else:
                value = answers.get(key)
                if value is None or (key == "network" and not value.strip()):
                    value = ask("enterprise_password" if key == "password" and enterprise else key)
                if key == "network":
                    ssid = value.strip()
                    value = ssid
                if key == "outer_identity":
                    value = value.strip()
                reply = value + "\n"
            handle.write(reply.encode())
            timeout = 15.0 if key in ("password", "username", "outer_identity") + PEM_KEYS else 10.0


# --- monitor --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MonitorState:
    """An event of ``monitor``: its port is polling, opening (``port``), opened, reconnecting or closed."""
    state: str
    port: str = ""


def monitor(port: Optional[str], follow: bool, on_text: Callable[[str], None],
            reporter: events.Reporter = events.QUIET, *, choose=None) -> None:
    """Copy the port to ``on_text`` until Ctrl-C (KeyboardInterrupt, left to the caller); the
    port's story goes to ``reporter`` as ``MonitorState`` events."""
    from particle_py.serial_link.transport import PortClosed, open_port

    if follow:
        reporter.emit(MonitorState("polling"))
    chosen = None
    while chosen is None:
        try:
            chosen = ports.choose(port, ask=choose)
        except ParticlePyError:
            if not follow:
                raise
            transport.pause(FOLLOW_DELAY_S)
    reporter.emit(MonitorState("opening", chosen.port))
    while True:
        try:
            handle = open_port(chosen.port)
        except ParticlePyError:
            if not follow:
                raise
            transport.pause(FOLLOW_DELAY_S)
            chosen = _refind(chosen)
            continue
        reporter.emit(MonitorState("opened"))
        try:
            with handle:
                while True:
                    data = handle.read_some()
                    if data:
                        on_text(data.decode("utf-8", "replace"))
        except PortClosed:
            if not follow:
                reporter.emit(MonitorState("closed"))
                return
            reporter.emit(MonitorState("reconnecting"))
            transport.pause(FOLLOW_DELAY_S)
            chosen = _refind(chosen)


def _refind(chosen: SerialDevice) -> SerialDevice:
    """After a reset the device may come back on another port: look it up by id."""
    if chosen.device_id:
        again = _serial_for(chosen.device_id)
        if again is not None:
            return again
    return chosen


# --- `serial monitor --timestamp` (particle-cli 3.51's src/lib/serial-timestamp.js) ---------
def format_timestamp(when, utc: bool) -> str:
    """ISO 8601 with milliseconds: UTC as JavaScript's toISOString (2026-08-17T18:04:40.805Z),
    local time as moment's YYYY-MM-DDTHH:mm:ss.SSSZ (2026-08-17T14:04:40.805-04:00)."""
    import datetime as dt

    if utc:
        when = when.astimezone(dt.timezone.utc)
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    when = when.astimezone()
    offset = when.utcoffset() or dt.timedelta(0)
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return (when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}"
            + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}")


class TimestampWriter:
    """``on_text`` with the time each line began prepended, as 3.51's createTimestampWriter: text
    passes through as it comes (an unfinished line is not held back), and a chunk that ends with
    a newline leaves the next line's stamp to the chunk that starts it."""

    def __init__(self, write: Callable[[str], None], utc: bool = False, now: Optional[Callable] = None):
        import datetime as dt

        self.write = write
        self.utc = utc
        self.now = now or (lambda: dt.datetime.now(dt.timezone.utc))
        self.at_line_start = True

    def __call__(self, text: str) -> None:
        if not text:
            return
        prefix = format_timestamp(self.now(), self.utc) + " "
        lines = text.split("\n")
        out = []
        for index, line in enumerate(lines):
            last = index == len(lines) - 1
            if self.at_line_start and not (last and line == ""):
                out.append(prefix)
                self.at_line_start = False
            out.append(line)
            if not last:
                out.append("\n")
                self.at_line_start = True
        self.write("".join(out))
