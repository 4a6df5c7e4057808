"""Device OS's listening-mode serial protocol, host side: one command byte, one reply.

Parsers take the device's text (outside input) and either return what it says or raise
ReplyError; they never raise anything else (property-tested in tests/serial).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Optional

from particle_py.errors import ParticlePyError
from particle_py.serial_link.transport import Port, open_port

# particle-cli's timeouts (v2.16 src/cmd/serial.js): i 20 s, s 20 s, v 2 s, m 5 s
TIMEOUTS = {"i": 20.0, "s": 20.0, "v": 2.0, "m": 5.0}
EX_UNAVAILABLE = 69
EX_PROTOCOL = 76
LISTENING_HINT = ("Put the device in listening mode (blinking blue): `particle usb start-listening`, or hold "
                  "its MODE/SETUP button for three seconds; then run the command again.")


class ReplyError(ValueError):
    """The device's reply is not what the protocol says it should be."""


@dataclass(frozen=True)
class IdentifyReply:
    device_id: str
    imei: Optional[str] = None
    iccid: Optional[str] = None


def parse_identify(text: str) -> IdentifyReply:
    """The reply to ``i``: ``Your device id is <id>`` (Wi-Fi Gen 2; Core: ``core id``) or
    ``Device ID: <id>`` plus ``IMEI: ``/``ICCID: `` lines (particle-cli's regular expressions)."""
    found = re.search(r"Your (?:core|device) id is\s+(\w+)", text)
    if found:
        if not re.fullmatch(r"[0-9a-fA-F]{24}", found.group(1)):
            raise ReplyError(f"the device id in the reply is not 24 hex digits: {found.group(1)!r}")
        return IdentifyReply(found.group(1).lower())
    found = re.search(r"(?:^|\s)([a-fA-F0-9]{24})(?:\s|$)", text)
    if not found:
        raise ReplyError("no device id in the reply")
    imei = re.search(r"IMEI: (\w+)", text)
    iccid = re.search(r"ICCID: (\w+)", text)
    # an IMEI is 15 digits (14 without its check digit, 16 as IMEISV), an ICCID 19-20 digits (ITU-T
    # E.118; some modems print 18-22, a few end in F): anything else is not the modem's answer
    if imei and not re.fullmatch(r"[0-9]{14,16}", imei.group(1)):
        raise ReplyError(f"the IMEI in the reply is not 14 to 16 digits ({_sample(imei.group(1))})")
    if iccid and not re.fullmatch(r"[0-9]{17,22}[fF]?", iccid.group(1)):
        raise ReplyError(f"the ICCID in the reply is not 18 to 22 digits ({_sample(iccid.group(1))})")
    return IdentifyReply(found.group(1).lower(), imei.group(1) if imei else None, iccid.group(1) if iccid else None)


def _sample(value: str) -> str:
    """A field of a reply, short enough to show in an error."""
    return repr(value) if len(value) <= 24 else f"{value[:16]!r}... {len(value)} characters"


def parse_mac(text: str) -> str:
    """The reply to ``m``; particle-cli pads a short address with 00 (and fixes USI's OUI)."""
    found = re.search(r"(?:[0-9a-fA-F]{2}:){1,5}[0-9a-fA-F]{2}", text)
    if not found:
        raise ReplyError("no MAC address in the reply")
    parts = found.group(0).lower().split(":")
    while len(parts) < 6:
        parts.append("00")
    return ":".join(parts[:6])


def parse_version(text: str) -> str:
    found = re.search(r"system firmware version:\s*(\S+)", text)
    if not found:
        raise ReplyError("no version in the reply")
    return found.group(1)


@dataclass
class DescribedModule:
    function: Optional[str]           # b s u m r a c n; None for an empty slot
    location: str
    max_size: int
    index: str = ""
    version: int = 0
    validity_checked: int = 0
    validity_values: int = 0
    uuid: Optional[str] = None
    deps: list = field(default_factory=list)        # [(function letter, index, version)]


@dataclass
class Describe:
    platform_id: Optional[int]
    modules: list


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReplyError(f"{what} is not a number")
    return value


def parse_describe(text: str) -> Describe:
    """The reply to ``s``: system_info.cpp's JSON (``{"p":6,"m":[...]}``)."""
    # an app that logs while the device listens can put text (even braces) before the reply
    starts = [i for i in (text.find('{"p"'), text.find('{"m"')) if i >= 0]
    start = min(starts) if starts else text.find("{")
    end = text.rfind("}")
    if start < 0 or end < start:
        raise ReplyError("no JSON object in the reply")
    try:
        data = json.loads(text[start:end + 1])
    except (ValueError, RecursionError):
        raise ReplyError("the reply is not complete JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("m"), list):
        raise ReplyError("the reply has no module list")
    platform_id = data.get("p")
    if platform_id is not None:
        platform_id = _int(platform_id, "the platform id")
    modules = []
    for raw in data["m"]:
        if not isinstance(raw, dict):
            raise ReplyError("a module entry is not an object")
        function = raw.get("f")
        if function is not None and not isinstance(function, str):
            raise ReplyError("a module function is not a letter")
        deps = []
        for dep in raw.get("d") or []:
            if not isinstance(dep, dict):
                raise ReplyError("a dependency is not an object")
            deps.append((str(dep.get("f", "")), str(dep.get("n", "")), _int(dep.get("v", 0), "a dependency version")))
        uuid = raw.get("u")
        modules.append(DescribedModule(
            function, str(raw.get("l", "")), _int(raw.get("s", 0), "a module size"), str(raw.get("n", "")),
            _int(raw.get("v", 0), "a module version"), _int(raw.get("vc", 0), "a validity mask"),
            _int(raw.get("vv", 0), "a validity value"), uuid if isinstance(uuid, str) else None, deps))
    return Describe(platform_id, modules)


def ask(path: str, command: str, timeout_s: Optional[float] = None, port: Optional[Port] = None) -> str:
    """Send one command byte and return the first reply batch; ParticlePyError when nothing comes."""
    timeout_s = TIMEOUTS.get(command, 5.0) if timeout_s is None else timeout_s
    own = port is None
    port = port or open_port(path)
    try:
        port.write(command.encode())
        data = port.read_batch(timeout_s)           # bounded: a flood ends in Flooded
    finally:
        if own:
            port.close()
    if not data:
        raise ParticlePyError(f"Serial timed out: the device on {path} did not answer '{command}' "
                              f"within {timeout_s:g} s (it answers only in listening mode)",
                              LISTENING_HINT, EX_UNAVAILABLE)
    return data.decode("utf-8", "replace")


def garbled(path: str, command: str, err: ReplyError) -> ParticlePyError:
    return ParticlePyError(f"The device on {path} sent a reply to '{command}' that particle-py cannot read ({err})",
                           "Unplug and replug the device, put it in listening mode (`particle usb start-listening`) "
                           "and run the command again; close other programs that use the port.", EX_PROTOCOL)


def query(path: str, command: str, parser, port: Optional[Port] = None):
    text = ask(path, command, port=port)
    try:
        return parser(text)
    except ReplyError as err:
        raise garbled(path, command, err) from None
