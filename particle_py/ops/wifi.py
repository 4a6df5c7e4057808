"""What `particle wifi add|join|list|current|remove|clear` do, as particle-cli 3.51's
src/cmd/wifi.js does it, minus printing.

Every command finds the one device (the chooser when several are attached, as every command),
refuses a device without Wi-Fi or of Gen2 (which `particle serial wifi` configures), and sends the
Wi-Fi control requests (control/wifi.py) with 3.51's retries: three tries a second apart, except
for "Not supported" (and, when joining, "Invalid argument" and "Invalid state"), which end at
once. A refusal becomes 3.51's "Unable to <action>: <result>" with its advice as the hint.

Passwords travel only in the request to the device: never in an event, a result or an error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Optional

from particle_py import control_codes as codes
from particle_py import events
from particle_py.control import ControlSession
from particle_py.control import wifi as wifi_requests
from particle_py.errors import EX_DATAERR, EX_NOINPUT, ParticlePyError, UsbError
from particle_py.ops import discovery

TRIES = 3
PAUSE_BETWEEN_TRIES_MS = 1000
FIRST_WIFI_GENERATION = 3

# particle-cli's securityMapping: what a file or a scan may say -> particle-usb's name
SECURITY_MAPPING = {
    "NO_SECURITY": "NONE", "NONE": "NONE", "WEP": "WEP",
    "WPA_AES": "WPA_PSK", "WPA_TKIP": "WPA_PSK", "WPA_AES+TKIP": "WPA_PSK", "WPA_PSK": "WPA_PSK",
    "WPA2_AES": "WPA2_PSK", "WPA2_TKIP": "WPA2_PSK", "WPA2_AES+TKIP": "WPA2_PSK", "WPA2_PSK": "WPA2_PSK",
    "WPA_WPA2_PSK": "WPA_WPA2_PSK", "WPA3_PSK": "WPA3_PSK", "WPA2_WPA3_PSK": "WPA2_WPA3_PSK",
}
# the choices of 3.51's security question
PROMPT_SECURITY = ("NO_SECURITY", "WEP", "WPA_PSK", "WPA2_PSK", "WPA3_PSK")
RESCAN = "[rescan networks]"

# particle-usb's words for the results (result.js messageForResultCode); others: "Request error"
RESULT_WORDS = {
    -100: "Unknown error", -110: "Resource is busy", -120: "Not supported", -130: "Not allowed",
    -160: "Timeout error", -170: "Not found", -190: "Data is too large", -210: "Invalid state",
    -220: "IO error", -230: "Network error", -250: "Internal error", -260: "Memory allocation error",
    -270: "Invalid argument", -280: "Invalid data format",
}


@dataclass(frozen=True)
class Question:
    """What the front end asks: kind is "confirm", "input", "secret" (never echoed) or "choice"."""
    kind: str
    message: str
    choices: tuple = ()
    default: Any = None


Ask = Callable[[Question], Any]


class _Refused(Exception):
    def __init__(self, words: str):
        super().__init__(words)
        self.words = words


def _words(result: int) -> str:
    return RESULT_WORDS.get(result, "Request error")


# --- the device ----------------------------------------------------------------------------
def find_wifi_device():
    """The one device meant, checked as 3.51's _compatCheck does (before anything is asked)."""
    from particle_py.platforms import networks

    entry = discovery.find_device()
    platform = entry.platform
    where = f"{entry.device_id} / {platform.name}"
    if "wifi" not in networks(platform):
        discovery.release_entry(entry)
        raise ParticlePyError(f"This device ({where}) does not support Wi-Fi.")
    if platform.generation < FIRST_WIFI_GENERATION:
        discovery.release_entry(entry)
        raise ParticlePyError(f"The 'particle wifi' commands are not supported on this device ({where}).",
                              "Use 'particle serial wifi' instead.")
    if entry.in_dfu:
        discovery.release_entry(entry)
        raise ParticlePyError(f"The device ({where}) is in DFU mode; the 'particle wifi' commands need it "
                              "running Device OS",
                              "Run `particle usb reset` (or press RESET), then run the command again.")
    return entry


def _action(operation: str) -> str:
    """3.51's _getActionStringFromOp: "Adding Wi-Fi network 'x'" -> "add Wi-Fi network 'x'"."""
    first, _, rest = operation.partition(" ")
    first = first.lower()
    if first.endswith("ing"):
        first = first[:-3]
    return f"{first} {rest}" if rest else first


def _advice(words: str, action: str) -> Optional[str]:
    """3.51's _handleDeviceError helper strings."""
    action = action.lower()
    if words == "Request timeout" and "join" in action:
        return "Please check the network credentials."
    if words == "Invalid state":
        if "join" in action:
            return ("1. Please check the network credentials.\n"
                    "2. Please verify that the Access Point is in range.\n"
                    "3. If you are using a hidden network, please add the hidden network credentials first "
                    "using 'particle wifi add'.")
        if "fetch" in action:
            return "Check that the device is connected to the network."
    if words == "Not found":
        return "If you are using a hidden network, please add the hidden network credentials first using " \
               "'particle wifi add'."
    if words == "Not supported":
        return ("This feature is likely not supported on this firmware version.\n"
                "Update to device-os 6.2.0 or use 'particle wifi join --help' to join a network.\n"
                "Alternatively, check 'particle serial wifi'.")
    if words == "Invalid argument":
        return "Please check the network credentials."
    return None


def _unable(words: str, operation: str) -> ParticlePyError:
    action = _action(operation)
    return ParticlePyError(f"Unable to {action}: {words}", _advice(words, action))


def _left_usb(err: UsbError, operation: str, changes: bool) -> ParticlePyError:
    """The device went away (it reset, or the cable moved) in the middle of a request: whether a
    change reached it cannot be known, so say where to look."""
    where = f"The device left USB during the request ({operation[0].lower() + operation[1:]})"
    if changes:
        return ParticlePyError(f"{where}; it may or may not hold the change",
                               "Connect it again, see what it holds with `particle wifi list`, then run the "
                               "command again (it is safe to repeat).", err.exit_code)
    return ParticlePyError(where, "Connect it again (no hub, a data cable), then run the command again.",
                           err.exit_code)


def _perform(operation: str, work: Callable[[], Any], changes: bool = True) -> Any:
    from particle_py.usb import sleep_ms

    last = None
    joining = "join" in operation.lower()
    for _ in range(TRIES):
        try:
            return work()
        except UsbError as err:
            raise _left_usb(err, operation, changes) from None
        except _Refused as refusal:
            if refusal.words == "Not supported" or (joining and refusal.words in ("Invalid argument",
                                                                                    "Invalid state")):
                raise _unable(refusal.words, operation) from None
            last = refusal
        sleep_ms(PAUSE_BETWEEN_TRIES_MS)
    raise _unable(last.words, operation) from None


def _request(session: ControlSession, req_type: int, payload: bytes = b"") -> bytes:
    reply = session.request(req_type, payload)
    if reply.refusal is not None or not reply.supported:
        raise _Refused("Not supported")
    if reply.result != codes.RESULT_OK:
        raise _Refused(_words(reply.result))
    return reply.data


# --- credentials from a file or from the user -----------------------------------------------
def convert_security(security) -> str:
    name = SECURITY_MAPPING.get(security) if isinstance(security, str) else None
    if name is None:
        shown = "undefined" if security is None else security
        raise ParticlePyError(f"Unknown security type: {shown}",
                              "Use one of NONE, WEP, WPA_PSK, WPA2_PSK, WPA3_PSK.")
    return name


def credentials_from_file(path: str) -> wifi_requests.Credentials:
    """3.51's _getNetworkToConnectFromJson: {"network", "security", "password", "hidden"}."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ParticlePyError(f"{path} does not exist", 'Give the path of a JSON file: {"network": "my_ssid", '
                              '"security": "WPA2_PSK", "password": "my_password", "hidden": false}',
                              EX_NOINPUT) from None
    except OSError as exc:
        raise ParticlePyError(f"{path} cannot be read ({exc.strerror or exc.__class__.__name__})",
                              "Check the path and its permissions.", EX_NOINPUT) from None
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:
        # the line and column only: the file holds a password, and no part of it is shown
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ParticlePyError(f"{path} is not valid JSON{where}",
                              'Write it as {"network": "my_ssid", "security": "WPA2_PSK", '
                              '"password": "my_password", "hidden": false}.', EX_DATAERR) from None
    network = data.get("network") if isinstance(data, dict) else None
    if not network:
        raise ParticlePyError("No network name found in the file", 'Add "network": "<SSID>" to it.', EX_DATAERR)
    if not isinstance(network, str):
        raise ParticlePyError("The network name in the file is not text", 'Write it as "network": "<SSID>".',
                              EX_DATAERR)
    password = data.get("password")
    if password is not None and not isinstance(password, str):
        raise ParticlePyError("The password in the file is not text", 'Write it as "password": "<password>".',
                              EX_DATAERR)
    return wifi_requests.Credentials(network, convert_security(data.get("security")), password,
                                     data.get("hidden") is True)


def _ask_manually(ask: Ask) -> wifi_requests.Credentials:
    ssid = ""
    while not ssid:
        ssid = str(ask(Question("input", "SSID")) or "").strip()
    security = ask(Question("choice", "Select the security type for your Wi-Fi network:", PROMPT_SECURITY))
    password = None
    if security != "NO_SECURITY":
        password = _ask_password(ask)
    hidden = bool(ask(Question("confirm", "Is this a hidden network?", default=False)))
    return wifi_requests.Credentials(ssid, convert_security(security), password, hidden)


def _ask_password(ask: Ask) -> str:
    password = ""
    while not password:
        password = str(ask(Question("secret", "Wi-Fi Password")) or "")
    return password


@dataclass(frozen=True)
class ScannedNetwork:
    ssid: str
    security: str
    channel: int
    rssi: int


def parse_scan(data: bytes) -> list[ScannedNetwork]:
    """ScanNetworksReply, filtered as 3.51 does: no blank SSIDs, no 5 GHz (channel > 14), each
    SSID once."""
    from particle_py.control.protobuf import Message

    seen, out = set(), []
    for n in Message(data).messages(1):
        ssid = n.bytes(1).decode("utf-8", "replace")
        channel = n.uint(4) & 0xFFFFFFFF
        if not ssid or channel > 14 or ssid in seen:
            continue
        seen.add(ssid)
        out.append(ScannedNetwork(ssid, wifi_requests.SECURITY_NAMES.get(n.uint(3), "undefined"), channel,
                                  n.uint(5)))
    return out


def _scan(session: ControlSession, ask: Ask) -> list[ScannedNetwork]:
    from particle_py.usb import sleep_ms

    while True:
        last = None
        for _ in range(TRIES):
            try:
                networks = parse_scan(_request(session, codes.WIFI_SCAN_NETWORKS))
                break
            except _Refused as refusal:
                last = refusal
                sleep_ms(PAUSE_BETWEEN_TRIES_MS)
        else:
            raise _unable(last.words, "Scanning for Wi-Fi networks")
        if networks or not ask(Question("confirm", "No networks found. Try again?", default=True)):
            return networks


def _ask_network(session: ControlSession, ask: Ask, *, ask_scan: bool = True) -> wifi_requests.Credentials:
    if ask_scan and not ask(Question("confirm", "Would you like to scan for Wi-Fi networks?", default=True)):
        return _ask_manually(ask)
    networks = _scan(session, ask)
    if not networks:
        raise ParticlePyError("No Wi-Fi networks found")
    answer = ask(Question("choice", "Select the Wi-Fi network with which you wish to connect your device:",
                          (RESCAN,) + tuple(n.ssid for n in networks)))
    if answer == RESCAN:
        return _ask_network(session, ask, ask_scan=False)
    chosen = next(n for n in networks if n.ssid == answer)
    password = None if chosen.security == "NO_SECURITY" else _ask_password(ask)
    return wifi_requests.Credentials(chosen.ssid, convert_security(chosen.security), password)


def _credentials(session, file: Optional[str], ask: Optional[Ask]) -> wifi_requests.Credentials:
    if file:
        return credentials_from_file(file)
    if ask is None:
        raise ParticlePyError("No credentials file given, and nobody can be asked for the network",
                              "Run it on a terminal, or give the network with --file credentials.json.")
    return _ask_network(session, ask)


# --- the commands ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Joined:
    ssid: str
    left_listening: bool          # the device was in listening mode and was asked to leave it


def add(file: Optional[str] = None, ask: Optional[Ask] = None,
        reporter: events.Reporter = events.QUIET) -> str:
    """Store a network on the device without joining it (SET_NETWORK_CREDENTIALS); its SSID."""
    entry = find_wifi_device()
    with ControlSession(entry.usb_device) as session:
        cred = _credentials(session, file, ask)
        reporter.detail(f"Storing Wi-Fi network '{cred.ssid}' on {entry.device_id}")
        _perform(f"Adding Wi-Fi network '{cred.ssid}'", lambda: _request(
            session, codes.WIFI_SET_NETWORK_CREDENTIALS, wifi_requests.credentials_request(cred)))
    return cred.ssid


def _joined(session, operation: str, req_type: int, payload: bytes) -> bool:
    from particle_py.control.device import parse_device_mode

    mode = []

    def work():
        mode.append(parse_device_mode(_request(session, codes.GET_DEVICE_MODE)))
        _request(session, req_type, payload)
    _perform(operation, work)
    if mode and mode[-1] == "LISTENING":
        # Device OS stays in listening mode after joining; 3.51 asks it to leave, and a refusal
        # does not matter
        try:
            session.request(codes.STOP_LISTENING)
        except ParticlePyError:
            pass
        return True
    return False


def join(file: Optional[str] = None, ask: Optional[Ask] = None,
         reporter: events.Reporter = events.QUIET) -> Joined:
    """Join a new network (JOIN_NEW_NETWORK: the device validates and stores it)."""
    entry = find_wifi_device()
    with ControlSession(entry.usb_device) as session:
        cred = _credentials(session, file, ask)
        reporter.detail(f"Joining Wi-Fi network '{cred.ssid}' on {entry.device_id}")
        left = _joined(session, f"Joining Wi-Fi network '{cred.ssid}'", codes.WIFI_JOIN_NEW_NETWORK,
                       wifi_requests.credentials_request(cred))
    return Joined(cred.ssid, left)


def join_known(ssid: str, reporter: events.Reporter = events.QUIET) -> Joined:
    entry = find_wifi_device()
    with ControlSession(entry.usb_device) as session:
        left = _joined(session, f"Joining a known Wi-Fi network '{ssid}'", codes.WIFI_JOIN_KNOWN_NETWORK,
                       wifi_requests.ssid_request(ssid))
    return Joined(ssid, left)


def clear(reporter: events.Reporter = events.QUIET) -> None:
    entry = find_wifi_device()
    with ControlSession(entry.usb_device) as session:
        _perform("Clearing Wi-Fi networks", lambda: _request(session, codes.WIFI_CLEAR_KNOWN_NETWORKS))


def remove(ssid: Optional[str], reporter: events.Reporter = events.QUIET) -> str:
    if not ssid:
        raise ParticlePyError("Please provide a network name to remove using the --ssid flag.")
    entry = find_wifi_device()
    with ControlSession(entry.usb_device) as session:
        _perform("Removing Wi-Fi networks", lambda: _request(session, codes.WIFI_REMOVE_KNOWN_NETWORK,
                                                             wifi_requests.ssid_request(ssid)))
    return ssid


def _current(session) -> Optional[wifi_requests.CurrentNetwork]:
    """The network the device is connected to, None when it is not (or cannot say)."""
    reply = session.request(codes.WIFI_GET_CURRENT_NETWORK)
    if reply.refusal is not None or reply.result != codes.RESULT_OK:
        return None
    return wifi_requests.parse_current_network(reply.data)


@dataclass(frozen=True)
class Listed:
    networks: list
    current_ssid: Optional[str]


def list_networks(reporter: events.Reporter = events.QUIET) -> Listed:
    entry = find_wifi_device()
    with ControlSession(entry.usb_device) as session:
        found = []

        def work():
            networks = wifi_requests.parse_known_networks(_request(session, codes.WIFI_GET_KNOWN_NETWORKS))
            current = _current(session)
            found[:] = [Listed(networks, current.ssid if current else None)]
        _perform("Listing Wi-Fi networks", work, changes=False)
    return found[0]


def current(reporter: events.Reporter = events.QUIET) -> wifi_requests.CurrentNetwork:
    entry = find_wifi_device()
    with ControlSession(entry.usb_device) as session:
        def work():
            network = _current(session)
            if network is None:
                raise _Refused("No Wi-Fi network connected")
            return network
        return _perform("Fetching current Wi-Fi network", work, changes=False)
