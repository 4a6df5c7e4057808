"""The USB serial (CDC) port of a simulated Particle device. (The control requests that answer
the same questions over USB are requests.py's.)

A device running Device OS (a normal-mode device on the simulated bus) has one serial port.
In listening mode it speaks Device OS's listening-mode protocol (system_setup.cpp): one byte
``i`` (ids), ``m`` (MAC), ``s`` (module describe JSON), ``v`` (version) or ``w`` (the Wi-Fi
dialogue); otherwise the port carries what the running application prints, scripted in
``unit<N>-app-serial.jsonl`` (one JSON object a line: ``{"out": "text"}``, ``{"event": "reset"}``,
``{"event": "unplug"}``). Opening the port at 14400 baud resets the device into DFU mode, at
28800 puts it in listening mode. Credentials stored with ``w`` and how much of the script has
been printed are kept per board in ``unit<N>-serial.json``.

Time is modelled: a read that finds nothing returns at once. When the app's script is used up,
nobody is left to type and the port ends a read that has idled a modelled minute with
KeyboardInterrupt: the simulated user's Ctrl-C (so a monitor under test ends).

Stdlib only (the pty server runs it under the system Python).
"""
from __future__ import annotations

import json
import os
import stat
from typing import Optional

from particle_py import platforms as platforms_mod
from particle_py.control_codes import MODE_LISTENING, MODE_NORMAL
from . import device_info
from .device import NormalModeDevice
from . import profiles as profiles_mod

BAUD_DFU = 14400
BAUD_LISTEN = 28800
USER_GIVES_UP_US = 60_000_000

SECURITY_NAMES = {0: "unsecured", 1: "WEP", 2: "WPA", 3: "WPA2", 4: "WPA Enterprise", 5: "WPA2 Enterprise"}
CIPHER_NAMES = {1: "AES", 2: "TKIP", 3: "AES+TKIP"}
EAP_NAMES = {0: "PEAP/MSCHAPv2", 1: "EAP-TLS"}
ENTERPRISE_PLATFORMS = {"photon", "p1"}          # Wiring_WpaEnterprise in Device OS

WIFI_DONE = ("Thanks! Wait while I save those credentials...\r\n\r\n"
             "Awesome. Now we'll connect!\r\n\r\n"
             "If you see a pulsing cyan light, your device\r\n"
             "has connected to the Cloud and is ready to go!\r\n\r\n"
             "If your LED flashes red or you encounter any other problems,\r\n"
             "visit https://www.particle.io/support to debug.\r\n\r\n"
             "    Particle <3 you!\r\n")


def _platform(dev) -> platforms_mod.Platform:
    return platforms_mod.by_name(dev.profile.platform)


# --- per-board serial state -------------------------------------------------------------------
def _state_path(state_dir: str, unit: int) -> str:
    return os.path.join(state_dir, f"unit{unit}-serial.json")


def script_path(state_dir: str, unit: int) -> str:
    return os.path.join(state_dir, f"unit{unit}-app-serial.jsonl")


def load_board(state_dir: Optional[str], unit: int) -> dict:
    if not state_dir:
        return {}
    try:
        with open(_state_path(state_dir, unit), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_board(state_dir: Optional[str], unit: int, data: dict) -> None:
    if not state_dir:
        return
    path = _state_path(state_dir, unit)
    tmp = path + ".tmp"
    # Wi-Fi passwords live here: owner-only, like any other secret the project writes
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def set_faults(state_dir, unit: int, **faults) -> None:
    """Serial faults of board ``unit``: open="busy"|"denied", reply="garbage"|"partial",
    unplug_after_bytes=N (the cable comes out once the host has written more than N bytes),
    flood=N (an application that logs nonstop: N more bytes of log text in every read, in listening
    mode too, each read taking the host's whole poll of modelled time)."""
    state_dir = os.fspath(state_dir)
    data = load_board(state_dir, unit)
    data["faults"] = {k: v for k, v in faults.items() if v is not None}
    save_board(state_dir, unit, data)


def wifi_credentials(state_dir, unit: int) -> list:
    """The Wi-Fi networks the board stored (newest last)."""
    return load_board(os.fspath(state_dir), unit).get("wifi", [])


def script_app_output(state_dir, unit: int, events: list) -> None:
    """Script what the running application of board ``unit`` prints (for tests and demos):
    strings are output, {"event": "reset"|"unplug"} happen in between."""
    state_dir = os.fspath(state_dir)
    with open(script_path(state_dir, unit), "w", encoding="utf-8") as f:
        for item in events:
            f.write(json.dumps({"out": item} if isinstance(item, str) else item) + "\n")
    data = load_board(state_dir, unit)
    data["script_pos"] = 0
    save_board(state_dir, unit, data)


def _script(state_dir: Optional[str], unit: int) -> list:
    if not state_dir:
        return []
    try:
        with open(script_path(state_dir, unit), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


# --- ports ------------------------------------------------------------------------------------
def port_name(position: int) -> str:
    return f"COM{3 + position}" if os.name == "nt" else f"/dev/ttyACM{position}"


def serial_devices(bus) -> list:
    """(port name, device) for every device on the bus that has a serial port now."""
    found = [dev for dev in bus.devices() if isinstance(dev, NormalModeDevice)]
    return [(port_name(i), dev) for i, dev in enumerate(found)]


class PortGone(Exception):
    """The device left the bus while the port was open (reset, DFU, unplug)."""


class NoSuchPort(Exception):
    pass


class DeviceSerial:
    """The device end of one open port: bytes in, bytes out, from the device model."""

    def __init__(self, dev: NormalModeDevice, state_dir: Optional[str]):
        self.dev = dev
        self.state_dir = state_dir
        self.rx = bytearray()                 # bytes waiting for the host
        self.pending = bytearray()            # host bytes the dialogue has not used yet
        self.dialogue = None                  # generator of the Wi-Fi dialogue, when in one
        self.idle_us = 0

    @property
    def platform(self) -> platforms_mod.Platform:
        return _platform(self.dev)

    def _check(self) -> None:
        if self.dev.gone:
            raise PortGone()

    def follow(self, bus) -> bool:
        """Find this port's board on ``bus`` (a reloaded bus has new objects for the same boards);
        False when it has no serial port there now (it left, or is in DFU mode)."""
        for _path, dev in serial_devices(bus):
            if dev.unit == self.dev.unit:
                self.dev = dev
                return True
        return False

    # line coding: what the host's open(baudrate=...) does
    def set_baud(self, baud: int) -> None:
        self._check()
        if baud == BAUD_DFU:
            self.dev._event("serial_baud", baud=baud)
            self.dev.save_memories()
            self.dev.leave_bus(profiles_mod.successor_spec(self.dev.profile, self.dev.profile.dfu_profile))
        elif baud == BAUD_LISTEN:
            self.dev._event("serial_baud", baud=baud)
            self.dev.mode = MODE_LISTENING

    def _faults(self) -> dict:
        return load_board(self.state_dir, self.dev.unit).get("faults", {})

    def write(self, data: bytes) -> None:
        self._check()
        unplug_after = self._faults().get("unplug_after_bytes")
        self.written = getattr(self, "written", 0) + len(data)
        if unplug_after is not None and self.written > unplug_after:
            self.dev.save_memories()
            self.dev.leave_bus(None)            # the cable comes out mid-dialogue
            raise PortGone()
        if self.dev.mode != MODE_LISTENING:
            return                              # the application does not read its port
        self.pending += data
        self._run()

    def read(self) -> bytes:
        self._check()
        if not self.rx and self.dev.mode != MODE_LISTENING:
            self._app_output()
        self._check()
        out, self.rx = bytes(self.rx), bytearray()
        flood = self._faults().get("flood")
        self.flooding = bool(flood)
        if flood:
            self.flood_lines = getattr(self, "flood_lines", 0)
            chunk = bytearray()
            while len(chunk) < int(flood):
                self.flood_lines += 1
                chunk += f"[app] sensor reading {self.flood_lines}\r\n".encode()
            out += bytes(chunk[:int(flood)])
        return out

    def idle(self, us: int) -> None:
        """The host waited ``us`` microseconds and read nothing."""
        self.idle_us += us
        self.dev.device_time_us += us
        if self.idle_us >= USER_GIVES_UP_US and (self.dev.mode == MODE_LISTENING or self._script_done()):
            raise KeyboardInterrupt             # nothing more will come: the simulated user's Ctrl-C

    # --- the running application -------------------------------------------------------
    def _script_done(self) -> bool:
        return load_board(self.state_dir, self.dev.unit).get("script_pos", 0) >= len(_script(self.state_dir, self.dev.unit))

    def _app_output(self) -> None:
        script = _script(self.state_dir, self.dev.unit)
        board = load_board(self.state_dir, self.dev.unit)
        pos = board.get("script_pos", 0)
        if pos >= len(script):
            return
        item = script[pos]
        board["script_pos"] = pos + 1
        save_board(self.state_dir, self.dev.unit, board)
        self.idle_us = 0
        if "out" in item:
            self.rx += str(item["out"]).encode()
        elif item.get("event") == "reset":
            self.dev.save_memories()
            self.dev.leave_bus(profiles_mod.successor_spec(self.dev.profile, self.dev.profile.spec))
        elif item.get("event") == "unplug":
            self.dev.save_memories()
            self.dev.leave_bus(None)

    # --- listening mode ---------------------------------------------------------------
    def _say(self, text: str) -> None:
        reply = self._faults().get("reply")
        if reply == "garbage":               # a wrong baud rate or a confused firmware
            text = "\x00\ufffd#?" + "".join(chr(0x21 + (ord(c) * 7) % 90) for c in text[:12])
        elif reply == "partial":             # cut off half-way
            text = text[:len(text) // 2]
        self.rx += text.encode()
        self.idle_us = 0

    def _run(self) -> None:
        while self.pending or self.dialogue is not None:
            if self.dialogue is not None:
                if not self._step_dialogue():
                    return
                continue
            command = chr(self.pending.pop(0))
            self._command(command)

    def _take_line(self, pem: bool = False) -> Optional[str]:
        """One answer line (or a PEM block ending at an empty line) from the host's bytes."""
        text = self.pending.decode("utf-8", "replace")
        if pem:
            end = text.find("\n\n")
            if end < 0:
                return None
            del self.pending[:len(text[:end + 2].encode())]
            return text[:end].strip()
        for i, ch in enumerate(text):
            if ch in "\r\n":
                del self.pending[:len(text[:i + 1].encode())]
                return text[:i]
        return None

    def _step_dialogue(self) -> bool:
        want = self.dialogue_want
        line = self._take_line(pem=want == "pem")
        if line is None:
            return False
        try:
            self.dialogue_want = self.dialogue.send(line)
        except StopIteration:
            self.dialogue = None
        return True

    def _command(self, command: str) -> None:
        dev, platform = self.dev, self.platform
        device_id = dev.profile.device_id or ""
        networks = device_info.NETWORKS.get(platform.name, ())
        if command == "i":
            if platform.generation == 1:
                self._say(f"Your core id is {device_id}\r\n")
            elif platform.generation == 2 and "cellular" not in networks:
                self._say(f"Your device id is {device_id}\r\n")
            else:
                lines = [f"Device ID: {device_id}"]
                if "cellular" in networks:
                    lines += [f"IMEI: {device_info.imei(device_id)}", f"ICCID: {device_info.iccid(device_id)}"]
                if platform.generation >= 3:
                    lines.append(f"Serial Number: {device_id[-12:].upper()}")
                self._say("\r\n".join(lines) + "\r\n")
        elif command == "m":
            if "wifi" in networks and platform.generation > 1:
                mac = ":".join(f"{b:02x}" for b in device_info.mac_address(device_id))
                self._say(f"Your device MAC address is\r\n{mac}\r\n")
        elif command == "s":
            reports = device_info.scan(dev._read_board, platform)
            self._say(device_info.describe_json(reports, platform) + "\r\n")
        elif command == "v":
            self._say(f"system firmware version: {dev.profile.firmware_version}\r\n")
        elif command == "w" and "wifi" in networks:
            self.dialogue = self._wifi()
            self.dialogue_want = next(self.dialogue)
        elif command == "x":
            dev.mode = MODE_NORMAL

    def _wifi(self):
        """Device OS's Wi-Fi dialogue: prompts out, one answer line in per ``yield``."""
        enterprise = self.platform.name in ENTERPRISE_PLATFORMS
        entry: dict = {}
        self._say("SSID: ")
        entry["ssid"] = (yield "line").strip()
        if enterprise:
            self._say("Security 0=unsecured, 1=WEP, 2=WPA, 3=WPA2, 4=WPA Enterprise, 5=WPA2 Enterprise: ")
        else:
            self._say("Security 0=unsecured, 1=WEP, 2=WPA, 3=WPA2: ")
        answer = (yield "line").strip()
        security = int(answer) if answer.isdigit() and int(answer) in SECURITY_NAMES else 3
        if security > 3 and not enterprise:
            security = 3
        entry["security"] = SECURITY_NAMES[security]
        if security >= 2:
            self._say("Security Cipher 1=AES, 2=TKIP, 3=AES+TKIP: ")
            answer = (yield "line").strip()
            entry["cipher"] = CIPHER_NAMES.get(int(answer) if answer.isdigit() else 1, "AES")
        if security >= 4:
            self._say("EAP Type 0=PEAP/MSCHAPv2, 1=EAP-TLS: ")
            answer = (yield "line").strip()
            eap = 1 if answer == "1" else 0
            entry["eap"] = EAP_NAMES[eap]
            if eap == 1:
                self._say("Client certificate in PEM format:\r\n")
                entry["client_certificate"] = yield "pem"
                self._say("Private key in PEM format:\r\n")
                entry["private_key"] = yield "pem"
            else:
                self._say("Username: ")
                entry["username"] = (yield "line").strip()
            self._say("Outer identity (optional): ")
            entry["outer_identity"] = (yield "line").strip()
            self._say("Root CA in PEM format (optional):\r\n")
            entry["root_ca"] = yield "pem"
        if security != 0 and not (security >= 4 and entry.get("eap") == "EAP-TLS"):
            self._say("Password: ")
            entry["password"] = yield "line"
        board = load_board(self.state_dir, self.dev.unit)
        board.setdefault("wifi", []).append(entry)
        save_board(self.state_dir, self.dev.unit, board)
        self.dev._event("wifi_stored", ssid=entry["ssid"], security=entry["security"])
        self._say(WIFI_DONE)
        self.dev.mode = MODE_NORMAL
